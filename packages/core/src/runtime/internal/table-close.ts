/**
 * Closing windows, for a windowed table with `grace`: stream time per
 * partition (the newest event time written to it), which windows are closed
 * (end + grace at or before stream time), and — for a table with `final` —
 * the windows not yet emitted, so that each is emitted once when it closes.
 * Checked per event in O(1) until the earliest open window closes.
 *
 * Stream time is stored too, as one row per partition (STREAM_TIME_KEY) in the
 * store and changelog, written at the commit after it moved: a worker that
 * restarts or takes a partition over knows which windows are closed before the
 * next event says so (a late event right after a restart still goes to onLate).
 */
import type { ProduceRecord, StoreChange } from '../../ports/index.ts'

/** The store and changelog key of a partition's stream time: no window's store key starts with \0. */
const STREAM_TIME_KEY = '\u0000stream-time'
const STREAM_TIME_BYTES = Buffer.from(STREAM_TIME_KEY, 'utf8')

/** What closing needs of a row. */
export interface ClosingRow {
  readonly partition: number
  readonly end: number
  readonly emitted?: boolean | undefined
}

export class Closing {
  private readonly streamTime = new Map<number, number>()
  /** Partitions whose stream time moved since the last commit. */
  private readonly moved = new Set<number>()
  /** final tables: per partition, store key → end of the windows not yet emitted */
  private readonly open = new Map<number, Map<string, number>>()
  private readonly partitionOf = new Map<string, number>()
  /** per partition: the earliest end among open windows (a bound: may be earlier than the truth) */
  private readonly earliest = new Map<number, number>()

  constructor(
    readonly graceMs: number,
    /** The table emits final values: open windows are tracked. */
    readonly tracks: boolean,
  ) {}

  /** Stream time of a partition: -Infinity before its first event here. */
  time(p: number): number {
    return this.streamTime.get(p) ?? Number.NEGATIVE_INFINITY
  }

  closed(p: number, end: number): boolean {
    return end + this.graceMs <= this.time(p)
  }

  track(storeKey: string, row: ClosingRow | undefined): void {
    if (row === undefined || row.emitted) return
    let m = this.open.get(row.partition)
    if (!m) this.open.set(row.partition, (m = new Map()))
    m.set(storeKey, row.end)
    this.partitionOf.set(storeKey, row.partition)
    const e = this.earliest.get(row.partition)
    if (e === undefined || row.end < e) this.earliest.set(row.partition, row.end)
  }

  untrack(storeKey: string): void {
    const p = this.partitionOf.get(storeKey)
    if (p === undefined) return
    this.partitionOf.delete(storeKey)
    this.open.get(p)?.delete(storeKey)
  }

  /** Moves stream time of p to ts (if later); the store keys of tracked windows that closed. */
  advance(p: number, ts: number): string[] {
    if (ts <= this.time(p)) return []
    this.streamTime.set(p, ts)
    this.moved.add(p)
    if (!this.tracks) return []
    const e = this.earliest.get(p)
    if (e === undefined || e + this.graceMs > ts) return []
    const m = this.open.get(p)!
    const out: string[] = []
    let next = Number.POSITIVE_INFINITY
    for (const [sk, end] of m) {
      if (end + this.graceMs <= ts) out.push(sk)
      else if (end < next) next = end
    }
    if (next === Number.POSITIVE_INFINITY) this.earliest.delete(p)
    else this.earliest.set(p, next)
    return out
  }

  /**
   * A stored row read back (store, changelog): if it is a partition's stream time, takes it (stream
   * time only ever moves forward) and says so; other rows are the caller's.
   */
  restored(storeKey: string, p: number, text: string | undefined): boolean {
    if (storeKey !== STREAM_TIME_KEY) return false
    const time = Number(text)
    if (text !== undefined && Number.isFinite(time) && time > this.time(p)) this.streamTime.set(p, time)
    return true
  }

  /** The stream time rows of partitions whose time moved, for a commit. */
  drain(changelog: string, timestamp: number, records: ProduceRecord[], changes: StoreChange[]): void {
    for (const p of this.moved) {
      const change = this.stored(p)!
      records.push({
        topic: changelog,
        partition: p,
        key: STREAM_TIME_BYTES,
        value: Buffer.from(change.value!),
        timestamp,
      })
      changes.push(change)
    }
    this.moved.clear()
  }

  /** The stored form of a partition's stream time, if it has one. */
  stored(p: number): StoreChange | undefined {
    const time = this.streamTime.get(p)
    return time === undefined ? undefined : { partition: p, key: STREAM_TIME_KEY, value: String(time) }
  }

  /** Partitions that left this worker: their stream time is read back with their rows when they return. */
  forget(partitions: readonly number[]): void {
    for (const p of partitions) {
      this.moved.delete(p)
      this.streamTime.delete(p)
      this.earliest.delete(p)
      const m = this.open.get(p)
      if (m) for (const sk of m.keys()) this.partitionOf.delete(sk)
      this.open.delete(p)
    }
  }
}
