/**
 * Windowed stream–stream joins, built from what the builder already has: an
 * agent consuming both topics and a table buffering each side's recent events
 * per key (stored, with a changelog, like any table). An event is paired with
 * every buffered event of the other side whose time is within `within` of its
 * own; what `join` returns goes to the sink. A side's events older than the
 * key's newest event time minus `within` are dropped from the buffer; an event
 * that old when it arrives joins nothing and is logged as late.
 */
import type { Duration } from './duration.ts'
import { toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'
import type { Ctx, Event, Registry, Stream, Table } from './types.ts'

export interface StreamJoinOptions<L extends string, Rt extends string, S extends string> {
  readonly left: L
  readonly right: Rt
  /** Events of the two sides pair when their times are at most this far apart. */
  readonly within: Duration
  /** The topic the joined values go to (keyed by the events' key). */
  readonly sink: S
}

/** A buffered event: its time and value. */
type Buffered = readonly [number, unknown]
interface Buffer {
  l: Buffered[]
  r: Buffered[]
}

interface Builder {
  readonly definition: {
    readonly topics: Readonly<Record<string, { readonly partitions: number | undefined }>>
  }
  table(name: string, options: Record<string, unknown>): Builder
  agent(name: string, options: Record<string, unknown>, handler: unknown): Builder
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
  const handler = async function* (stream: Stream<unknown, unknown>, ctx: Ctx<Registry>) {
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
      if (mine.length || other.length) table.set(e.key, left ? { l: mine, r: other } : { l: other, r: mine })
      else table.delete(e.key)
      for (const v of out) yield v
    }
  }
  return app
    .table(buffer, { default: (): Buffer => ({ l: [], r: [] }) })
    .agent(name, { from: [o.left, o.right], sink: [o.sink] }, handler)
}
