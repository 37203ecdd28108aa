/**
 * Windowed stream–stream joins, built from what the builder already has: an
 * agent consuming both topics and a table buffering each side's recent events
 * per key (stored, with a changelog, like any table). An event is paired with
 * every buffered event of the other side whose time is within `within` of its
 * own; what `join` returns goes to the sink.
 *
 * Inner (the default): a side's events older than the key's newest event time
 * minus `within` are dropped from the buffer; an event that old when it
 * arrives joins nothing and is logged as late.
 *
 * Left and outer (Kafka Streams' leftJoin and outerJoin): an event that never
 * met a partner is joined with undefined once nothing can meet it any more —
 * when its partition's stream time (the latest event time this worker has seen
 * in it since it started) passes its own time plus twice `within` (a partner
 * that could still arrive on time is at most `within` behind stream time and
 * at most `within` from the event). Such results come out once: the event
 * leaves the buffer in the same commit. Lateness is by stream time here: an
 * event more than `within` behind it joins nothing and is logged. Each buffered
 * event carries whether it met a partner; the buffer of a key records its
 * partition, so a sweep (at most every quarter of `within` of stream time per
 * partition) touches only rows of the event's own partition.
 */
import type { Duration } from './duration.ts'
import { toMillis } from './duration.ts'
import { ConfigError, messageOf } from './errors.ts'
import type { Ctx, Event, Registry, Stream, Table, TopicHandle } from './types.ts'

export interface StreamJoinOptions<L extends string, Rt extends string, S extends string> {
  readonly left: L
  readonly right: Rt
  /** Events of the two sides pair when their times are at most this far apart. */
  readonly within: Duration
  /** The topic the joined values go to (keyed by the events' key). */
  readonly sink: S
  /**
   * 'inner' (default): pairs only. 'left': also each left event that met no
   * right one, joined with undefined once its window is over; 'outer': that
   * for the right events too.
   */
  readonly type?: StreamJoinType
}

export type StreamJoinType = 'inner' | 'left' | 'outer'

/** A buffered event: its time and value (left/outer: and 1 once it met a partner). */
type Buffered = readonly [number, unknown] | readonly [number, unknown, 0 | 1]
interface Buffer {
  l: Buffered[]
  r: Buffered[]
  /** left/outer: the key's partition (a sweep touches the rows of the event's partition only) */
  p?: number
}

interface Builder {
  readonly definition: {
    readonly topics: Readonly<Record<string, { readonly partitions: number | undefined }>>
  }
  table(name: string, options: Record<string, unknown>): Builder
  agent(name: string, options: Record<string, unknown>, handler: unknown): Builder
}

/** Keeps a key's buffer, or deletes the key when nothing is buffered. */
function store(table: Table<unknown, Buffer>, key: unknown, buf: Buffer): void {
  if (buf.l.length || buf.r.length) table.set(key, buf)
  else table.delete(key)
}

export function addStreamJoin(
  app: Builder,
  name: string,
  o: StreamJoinOptions<string, string, string>,
  join: (left: unknown, right: unknown, key: unknown) => unknown,
): Builder {
  const where = `stream join '${name}'`
  if (o === null || typeof o !== 'object') throw new ConfigError(`${where}: options must be an object`)
  if (typeof join !== 'function')
    throw new ConfigError(`${where}: join must be a function (left, right, key) => value`)
  if (o.left === o.right) throw new ConfigError(`${where}: left and right must be two topics`)
  const type = o.type ?? 'inner'
  if (type !== 'inner' && type !== 'left' && type !== 'outer')
    throw new ConfigError(`${where}: type must be 'inner', 'left' or 'outer', got ${JSON.stringify(o.type)}`)
  const withinMs = toMillis(o.within, `${where} within`)
  const topics = app.definition.topics
  for (const t of [o.left, o.right])
    if (!Object.hasOwn(topics, t)) throw new ConfigError(`${where}: topic '${t}' is not declared`)
  const lp = topics[o.left]!.partitions
  const rp = topics[o.right]!.partitions
  // Declared counts are checked here; counts taken from the broker must agree too (the buffer
  // table is partitioned like the topics, so keys of other partitions would be refused).
  if (lp !== undefined && rp !== undefined && lp !== rp)
    throw new ConfigError(
      `${where}: topic '${o.left}' has ${lp} partitions and '${o.right}' ${rp}: a stream–stream join needs them co-partitioned (the same key and partition count)`,
    )
  const buffer = `${name}.buffer`
  const handler = type === 'inner' ? innerHandler : unmatchedHandler
  async function* innerHandler(stream: Stream<unknown, unknown>, ctx: Ctx<Registry>) {
    const table = (ctx.tables as Record<string, Table<unknown, Buffer>>)[buffer]!
    for await (const e of stream.events() as Stream<Event<unknown, unknown>, unknown>) {
      const left = e.topic === o.left
      const buf = table.get(e.key)
      const newest = Math.max(e.timestamp, ...buf.l.map((x) => x[0]), ...buf.r.map((x) => x[0]))
      const keep = (x: Buffered) => x[0] >= newest - withinMs
      const mine = (left ? buf.l : buf.r).filter(keep)
      const other = (left ? buf.r : buf.l).filter(keep)
      const out: unknown[] = []
      if (e.timestamp >= newest - withinMs) {
        for (const [ts, v] of other)
          if (Math.abs(ts - e.timestamp) <= withinMs)
            out.push(left ? join(e.value, v, e.key) : join(v, e.value, e.key))
        mine.push([e.timestamp, e.value])
      } else
        ctx.log.warn(
          `stream join '${name}': late event skipped (${e.topic}[${e.partition}]@${e.offset}, ${e.timestamp} is more than ${withinMs} ms before the key's newest event, ${newest})`,
        )
      store(table, e.key, left ? { l: mine, r: other } : { l: other, r: mine })
      for (const v of out) yield v
    }
  }

  async function* unmatchedHandler(stream: Stream<unknown, unknown>, ctx: Ctx<Registry>) {
    const table = (ctx.tables as Record<string, Table<unknown, Buffer>>)[buffer]!
    const sink = (ctx.topics as Record<string, TopicHandle<unknown, unknown>>)[o.sink]!
    /** Per partition: the latest event time seen, and where the last sweep ran. */
    const streamTime = new Map<number, number>()
    const swept = new Map<number, number>()
    const sweepEvery = Math.max(1, withinMs / 4)
    const gone = (x: Buffered, now: number) => x[0] + 2 * withinMs < now
    const unmatched = (x: Buffered) => x[2] !== 1
    /**
     * Sends the results of a key's events whose window is over and which met no partner
     * (keyed by that key, at that event's time; the commit of the event in hand covers
     * them) and returns the buffer without any of the events whose window is over.
     */
    const expire = (key: unknown, buf: Buffer, now: number): Buffer => {
      const emit = (value: unknown, timestamp: number) =>
        void sink.send(value, { key, timestamp }).catch((e: unknown) => {
          ctx.log.error(`stream join '${name}': sending the result of an unmatched event: ${messageOf(e)}`)
        })
      for (const x of buf.l) if (gone(x, now) && unmatched(x)) emit(join(x[1], undefined, key), x[0])
      if (type === 'outer')
        for (const x of buf.r) if (gone(x, now) && unmatched(x)) emit(join(undefined, x[1], key), x[0])
      const kept: Buffer = { l: buf.l.filter((x) => !gone(x, now)), r: buf.r.filter((x) => !gone(x, now)) }
      if (buf.p !== undefined) kept.p = buf.p
      return kept
    }
    for await (const e of stream.events() as Stream<Event<unknown, unknown>, unknown>) {
      const left = e.topic === o.left
      const now = Math.max(streamTime.get(e.partition) ?? e.timestamp, e.timestamp)
      streamTime.set(e.partition, now)
      const out: unknown[] = []
      const buf = expire(e.key, table.get(e.key), now)
      buf.p = e.partition
      if (e.timestamp >= now - withinMs) {
        const other = left ? buf.r : buf.l
        let met = false
        for (let i = 0; i < other.length; i++) {
          const [ts, v] = other[i]!
          if (Math.abs(ts - e.timestamp) > withinMs) continue
          out.push(left ? join(e.value, v, e.key) : join(v, e.value, e.key))
          other[i] = [ts, v, 1]
          met = true
        }
        ;(left ? buf.l : buf.r).push([e.timestamp, e.value, met ? 1 : 0])
      } else
        ctx.log.warn(
          `stream join '${name}': late event skipped (${e.topic}[${e.partition}]@${e.offset}, ${e.timestamp} is more than ${withinMs} ms before the partition's stream time, ${now})`,
        )
      store(table, e.key, buf)
      // Now and then: the other keys of this partition whose events' windows are over.
      if (now - (swept.get(e.partition) ?? Number.NEGATIVE_INFINITY) >= sweepEvery) {
        swept.set(e.partition, now)
        const due: [unknown, Buffer][] = []
        for (const [k, b] of table.entries())
          if (b.p === e.partition && (b.l.some((x) => gone(x, now)) || b.r.some((x) => gone(x, now))))
            due.push([k, b])
        for (const [k, b] of due) store(table, k, expire(k, b, now))
      }
      for (const v of out) yield v
    }
  }

  return app
    .table(buffer, { default: (): Buffer => ({ l: [], r: [] }) })
    .agent(name, { from: [o.left, o.right], sink: [o.sink] }, handler)
}
