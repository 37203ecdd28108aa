/**
 * Streams: pull-based, chainable, and cheap per message. Each operator pulls
 * from the one before; a pull returns a value synchronously when the source has
 * records buffered and a promise only when it must wait, so a batch flows
 * through a chain without a promise per operator. Records pulled for the value
 * in hand are acknowledged when the handler asks for the next value.
 */
import type { AnySchema } from '../../definition/codec.ts'
import type { TopicDef } from '../../definition/definition.ts'
import { type Duration, toMillis } from '../../definition/duration.ts'
import { ConfigError, NotCopartitionedError } from '../../definition/errors.ts'
import type { Event, Stream, Table } from '../../definition/types.ts'
import type { Timekeeper } from '../time.ts'
import type { AgentQueue } from './channel-queue.ts'
import { ackInflight, ackItem, type Cursor, type Item, newCursor } from './cursor.ts'
import type { SourceQueue } from './source.ts'
import { runtimeOf } from './table-views.ts'
import { NO_ROW } from './tables.ts'
import { decodeHeaders, internalTopicDef, type TopicRuntime } from './topics.ts'

export interface Elem<T> {
  readonly value: T
  readonly item: Item
}
export const END: unique symbol = Symbol('end')
type Pulled<T> = Elem<T> | typeof END
export type Pull<T> = (cx: Cursor) => Pulled<T> | Promise<Pulled<T>>

/** What a stream needs from the agent instance that owns it. */
export interface StreamHost {
  readonly time: Timekeeper
  readonly appId: string
  readonly agent: string
  readonly cursor: Cursor
  readonly aborted: boolean
  setWaiting(waiting: boolean): void
  /** Set while an exactly-once commit runs: no new record is handed out until it resolves. */
  readonly gate: Promise<void> | undefined
  /** Subscribes this agent to a topic at run time (groupBy, through) and returns its queue. */
  subscribe(def: TopicDef): Promise<SourceQueue>
  topic(name: string): TopicRuntime | undefined
  /** Queues a record for the topic carrying over the source record's timestamp and headers. */
  forward(topic: string, key: unknown, value: unknown, from: Item): void
  /** Registers a background task tied to this instance; its failure fails the instance. */
  background(task: Promise<void>): void
}

/** A pull over a source queue (the root of every chain). */
/** A handler that never awaits must still let timers, HTTP and heartbeats run: yield this often. */
const YIELD_EVERY_MS = 10

export function sourcePull(queue: AgentQueue, host: StreamHost): Pull<unknown> {
  let handed = 0
  let since = performance.now()
  const resume = (cx: Cursor) => new Promise<void>((r) => setImmediate(r)).then(() => pull(cx))
  const pull = (cx: Cursor): Pulled<unknown> | Promise<Pulled<unknown>> => {
    if (host.aborted) return END
    const gate = host.gate
    if (gate !== undefined) return gate.then(() => pull(cx))
    if ((++handed & 63) === 0) {
      const now = performance.now()
      if (now - since > YIELD_EVERY_MS) {
        since = now
        return resume(cx)
      }
    }
    const item = queue.take()
    if (item !== undefined) {
      cx.inflight.push(item)
      cx.current = item
      return item
    }
    if (queue.closed) return END
    return queue.wait().then(() => {
      since = performance.now()
      return pull(cx)
    })
  }
  return pull
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> =>
  typeof (v as { then?: unknown } | null)?.then === 'function'

export class StreamImpl<T> implements Stream<T, unknown> {
  constructor(
    readonly host: StreamHost,
    readonly pull: Pull<T>,
    /** Schema of the values if they are still the source topic's values (for repartitioning). */
    readonly valueSchema: AnySchema | undefined,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    const host = this.host
    const cx = host.cursor
    const pull = this.pull
    const done: IteratorResult<T> = { done: true, value: undefined }
    const finish = (r: Pulled<T>): IteratorResult<T> => {
      host.setWaiting(false)
      return r === END ? done : { done: false, value: r.value }
    }
    const fail = (e: unknown): never => {
      host.setWaiting(false)
      throw e
    }
    return {
      next: (): Promise<IteratorResult<T>> => {
        ackInflight(cx)
        host.setWaiting(true)
        let r: Pulled<T> | Promise<Pulled<T>>
        try {
          r = pull(cx)
        } catch (e) {
          return Promise.reject(fail(e))
        }
        return isPromise(r) ? r.then(finish, fail) : Promise.resolve(finish(r))
      },
      return: async (): Promise<IteratorResult<T>> => {
        host.setWaiting(false)
        return done
      },
    }
  }

  private derive<U>(pull: Pull<U>, keepSchema: boolean): StreamImpl<U> {
    return new StreamImpl<U>(this.host, pull, keepSchema ? this.valueSchema : undefined)
  }

  events(): Stream<Event<unknown, T>, unknown> {
    const up = this.pull
    const toEvent = (e: Elem<T>): Elem<Event<unknown, T>> => {
      const r = e.item.rec
      return {
        item: e.item,
        value: {
          key: e.item.key,
          value: e.value,
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
          timestamp: r.timestamp,
          headers: decodeHeaders(r.headers),
        },
      }
    }
    return this.derive((cx) => mapPulled(up(cx), toEvent), false)
  }

  items(): Stream<[unknown, T], unknown> {
    const up = this.pull
    return this.derive(
      (cx) => mapPulled(up(cx), (e): Elem<[unknown, T]> => ({ item: e.item, value: [e.item.key, e.value] })),
      false,
    )
  }

  enumerate(): Stream<[number, T], unknown> {
    const up = this.pull
    let i = 0
    return this.derive(
      (cx) => mapPulled(up(cx), (e): Elem<[number, T]> => ({ item: e.item, value: [i++, e.value] })),
      false,
    )
  }

  map<U>(fn: (value: T) => U | Promise<U>): Stream<U, unknown> {
    const up = this.pull
    const apply = (e: Elem<T>): Elem<U> | Promise<Elem<U>> => {
      const u = fn(e.value)
      return isPromise(u) ? u.then((value) => ({ item: e.item, value })) : { item: e.item, value: u }
    }
    return this.derive((cx) => {
      const r = up(cx)
      if (isPromise(r)) return r.then((x) => (x === END ? END : apply(x)))
      return r === END ? END : apply(r)
    }, false)
  }

  join(
    table: Table<unknown, unknown>,
    key?: (value: T, key: unknown) => unknown,
  ): Stream<[T, unknown], unknown> {
    return this.joined(table, key, false) as Stream<[T, unknown], unknown>
  }

  leftJoin(
    table: Table<unknown, unknown>,
    key?: (value: T, key: unknown) => unknown,
  ): Stream<[T, unknown], unknown> {
    return this.joined(table, key, true)
  }

  /**
   * A stream–table join: a lookup per value in the table's memory, no I/O. The
   * first value of each source topic checks that the table is partitioned like
   * it (or global); with a key function, each looked-up key must be in the
   * event's own partition.
   */
  private joined(
    table: Table<unknown, unknown>,
    keyFn: ((value: T, key: unknown) => unknown) | undefined,
    left: boolean,
  ): Stream<[T, unknown], unknown> {
    const t = runtimeOf(table)
    if (t === undefined) throw new ConfigError('join: pass a table of ctx.tables')
    const refusal = t.kind.joinRefusal
    if (refusal !== undefined) throw new ConfigError(`join: table '${t.name}' ${refusal}`)
    const host = this.host
    const checked = new Set<string>()
    let lastChecked: string | undefined
    const check = (item: Item, k: unknown): void => {
      if (t.global) return
      const rec = item.rec
      if (rec.topic !== lastChecked && !checked.has(rec.topic)) {
        const n = host.topic(rec.topic)?.partitions
        if (n !== t.partitions)
          throw new NotCopartitionedError(
            `join: topic '${rec.topic}' has ${n} partitions and table '${t.name}' ${t.partitions}: a stream–table join needs them co-partitioned (the same key and partition count); declare the table with partitions: ${n}, repartition the stream with groupBy, or make the table global`,
          )
        checked.add(rec.topic)
      }
      lastChecked = rec.topic
      if (keyFn !== undefined) {
        const p = t.keyPartition(t.baseKey(k))
        if (p !== rec.partition)
          throw new NotCopartitionedError(
            `join: key ${JSON.stringify(t.baseKey(k))} of table '${t.name}' is in partition ${p}, the event in ${rec.topic}[${rec.partition}]: key the stream by the table's key first (groupBy), or make the table global`,
          )
      }
    }
    const up = this.pull
    const loop = (cx: Cursor): Pulled<[T, unknown]> | Promise<Pulled<[T, unknown]>> => {
      for (;;) {
        const r = up(cx)
        if (isPromise(r)) return r.then((x) => (x === END ? END : one(cx, x)))
        if (r === END) return END
        const out = look(r)
        if (out !== undefined) return out
        ackItem(r.item)
      }
    }
    const look = (e: Elem<T>): Elem<[T, unknown]> | undefined => {
      const k = keyFn === undefined ? e.item.key : keyFn(e.value, e.item.key)
      check(e.item, k)
      const v = t.lookup(k, host.cursor)
      if (v !== NO_ROW) return { item: e.item, value: [e.value, v] }
      return left ? { item: e.item, value: [e.value, undefined] } : undefined
    }
    const one = (cx: Cursor, e: Elem<T>): Pulled<[T, unknown]> | Promise<Pulled<[T, unknown]>> => {
      const out = look(e)
      if (out !== undefined) return out
      ackItem(e.item)
      return loop(cx)
    }
    return this.derive(loop, false)
  }

  filter(fn: (value: T) => boolean | Promise<boolean>): Stream<T, unknown> {
    const up = this.pull
    const loop = (cx: Cursor): Pulled<T> | Promise<Pulled<T>> => {
      for (;;) {
        const r = up(cx)
        if (isPromise(r)) return r.then((x) => (x === END ? END : check(cx, x)))
        if (r === END) return END
        const ok = fn(r.value)
        if (isPromise(ok)) return ok.then((b) => (b ? r : reject(cx, r)))
        if (ok) return r
        // A value filtered out is processed: acknowledge it now.
        ackItem(r.item)
      }
    }
    const reject = (cx: Cursor, e: Elem<T>) => {
      ackItem(e.item)
      return loop(cx)
    }
    const check = (cx: Cursor, e: Elem<T>): Pulled<T> | Promise<Pulled<T>> => {
      const ok = fn(e.value)
      if (isPromise(ok)) return ok.then((b) => (b ? e : reject(cx, e)))
      return ok ? e : reject(cx, e)
    }
    return this.derive(loop, true)
  }

  take(n: number, within: Duration): Stream<T[], unknown> {
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`take: n must be a positive integer, got ${n}`)
    const withinMs = toMillis(within, 'take within')
    const up = this.pull
    const time = this.host.time
    let carry: Promise<Pulled<T>> | undefined
    const collect = async (cx: Cursor): Promise<Pulled<T[]>> => {
      let first: Pulled<T>
      if (carry) {
        first = await carry
        carry = undefined
      } else first = await up(cx)
      if (first === END) return END
      const values: T[] = [first.value]
      let last = first.item
      let timedOut = false
      let wake: (() => void) | undefined
      const cancel = time.after(withinMs, () => {
        timedOut = true
        wake?.()
      })
      try {
        while (values.length < n && !timedOut) {
          const r = up(cx)
          let got: Pulled<T>
          if (isPromise(r)) {
            const timeout = new Promise<'timeout'>((resolve) => {
              wake = () => resolve('timeout')
            })
            const w = await Promise.race([r, timeout])
            wake = undefined
            if (w === 'timeout') {
              carry = r
              break
            }
            got = w
          } else got = r
          if (got === END) break
          values.push(got.value)
          last = got.item
        }
      } finally {
        cancel()
      }
      return { item: last, value: values }
    }
    return this.derive(collect, false)
  }

  groupBy<NK>(
    keyFn: (value: T) => NK,
    options: { readonly name: string; readonly partitions?: number },
  ): Stream<T, NK> {
    const name = options?.name
    if (typeof name !== 'string' || !/^[a-zA-Z0-9._-]+$/.test(name))
      throw new ConfigError(
        `groupBy: options.name must be a name of [a-zA-Z0-9._-], got ${JSON.stringify(name)}`,
      )
    const partitions = options.partitions
    if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1))
      throw new ConfigError(`groupBy: options.partitions must be a positive integer, got ${partitions}`)
    const topic = `${this.host.appId}-${this.host.agent}-${name}-repartition`
    return this.forwardThrough(internalTopicDef(topic, partitions, this.valueSchema), keyFn) as Stream<T, NK>
  }

  through(topicName: string): Stream<T, unknown> {
    const t = this.host.topic(topicName)
    if (!t) throw new ConfigError(`through: undeclared topic ${JSON.stringify(topicName)}`)
    return this.forwardThrough(t.def, undefined)
  }

  /**
   * Sends every value of this stream to `def`'s topic (a background task of the
   * instance, acknowledging each source record once queued) and returns the
   * stream of that topic.
   */
  private forwardThrough(def: TopicDef, keyFn: ((value: T) => unknown) | undefined): StreamImpl<T> {
    const host = this.host
    const up = this.pull
    const queue = host.subscribe(def)
    const fcx = newCursor()
    const forward = async () => {
      await queue
      while (!host.aborted) {
        const r = await up(fcx)
        if (r === END) break
        host.forward(def.name, keyFn ? keyFn(r.value) : r.item.key, r.value, r.item)
        ackInflight(fcx)
      }
    }
    host.background(forward())
    let root: Pull<unknown> | undefined
    const pull: Pull<T> = (cx) => {
      if (root) return root(cx) as Pulled<T> | Promise<Pulled<T>>
      return queue.then((q) => {
        root ??= sourcePull(q, host)
        return root(cx) as Pulled<T> | Promise<Pulled<T>>
      })
    }
    return new StreamImpl<T>(host, pull, def.valueSchema)
  }
}

function mapPulled<T, U>(
  r: Pulled<T> | Promise<Pulled<T>>,
  fn: (e: Elem<T>) => Elem<U>,
): Pulled<U> | Promise<Pulled<U>> {
  if (isPromise(r)) return r.then((x) => (x === END ? END : fn(x)))
  return r === END ? END : fn(r)
}
