/**
 * What windowed kinds share (table-windows.ts: tumbling, hopping, sliding;
 * table-sessions.ts: sessions): a row per (key, window start), stored under
 * `<start>:<key>` and found through an index by key; expiry; closing windows
 * with grace (table-close.ts), whose final values go out once; and the view.
 * A kind decides which windows an event's time falls in and how a write
 * changes them.
 */
import { type Duration, toMillis } from '../../definition/duration.ts'
import type { WindowedTable, WindowValue } from '../../definition/types.ts'
import type { WindowRange, WindowSpec } from '../../definition/windows.ts'
import type { ProduceRecord, StoreChange } from '../../ports/index.ts'
import type { Cursor } from './cursor.ts'
import { Closing } from './table-close.ts'
import { BaseKind } from './table-kind.ts'
import { TABLE_RUNTIME } from './table-views.ts'
import type { Row, TableRuntime } from './tables.ts'

export abstract class WindowedKind extends BaseKind {
  override readonly windowed = true
  override readonly joinRefusal = 'is windowed; join a plain table'
  readonly window: WindowSpec
  /** base key → window start → store key */
  readonly index = new Map<string, Map<number, string>>()
  /** Closing windows (a window with grace): see table-close.ts. */
  readonly closing: Closing | undefined
  /**
   * Rows stored as [value, end(, 1 once emitted)]: a session's end moves with its events, and
   * whether a closed window's final value went out must survive a restart.
   */
  readonly enveloped: boolean
  override readonly expiresMs: number | undefined

  constructor(t: TableRuntime, enveloped: boolean) {
    super(t)
    const w = t.def.window!
    this.window = w
    this.expiresMs = w.expiresMs
    this.enveloped = enveloped
    this.closing = w.graceMs !== undefined ? new Closing(w.graceMs, t.def.final !== undefined) : undefined
  }

  /** The value in the window `range` (of a time) of a key. */
  abstract get(key: unknown, range: WindowRange, cursor: Cursor): unknown
  /** A write at time ts: fn updates the value of each window of the key it falls in. */
  abstract update(key: unknown, ts: number, cursor: Cursor, fn: (v: unknown) => unknown): void
  /** Deletes the key's windows that time ts falls in. */
  abstract delete(key: unknown, ts: number, cursor: Cursor): void

  view(cursor: Cursor): WindowedTable<unknown, unknown> {
    return new WindowedView(this, cursor, undefined)
  }

  /** A key query on a windowed table answers the current window's value. */
  override answer(view: unknown, key: unknown): unknown {
    return (view as WindowedTable<unknown, unknown>).current(key)
  }

  windowKey(base: string, start: number): string {
    return `${start}:${base}`
  }
  override baseOf(storeKey: string): string {
    return storeKey.slice(storeKey.indexOf(':') + 1)
  }
  override startOf(storeKey: string): number {
    return Number(storeKey.slice(0, storeKey.indexOf(':')))
  }

  override text(row: Row): string {
    const v = this.t.encodeValueText(row.value)
    return this.enveloped ? `[${v},${row.end}${row.emitted ? ',1' : ''}]` : v
  }

  override rowOf(storeKey: string, text: string, partition: number): Row {
    const t = this.t
    const key = t.keyOf(this.baseOf(storeKey))
    const start = this.startOf(storeKey)
    if (this.enveloped) {
      const [v, end, emitted] = JSON.parse(text) as [unknown, number, number?]
      return { key, value: t.decodeValueOf(v), partition, start, end, dirty: false, emitted: emitted === 1 }
    }
    const value = t.decodeValueText(text)
    return { key, value, partition, start, end: start + this.window.sizeMs, dirty: false }
  }

  override added(storeKey: string, row: Row): void {
    if (this.closing?.tracks) this.closing.track(storeKey, row)
    const base = this.baseOf(storeKey)
    let m = this.index.get(base)
    if (!m) this.index.set(base, (m = new Map()))
    m.set(row.start, storeKey)
  }

  override removed(storeKey: string, row: Row): void {
    this.closing?.untrack(storeKey)
    const base = this.baseOf(storeKey)
    const m = this.index.get(base)
    if (!m) return
    m.delete(row.start)
    if (m.size === 0) this.index.delete(base)
  }

  override restored(storeKey: string, partition: number, text: string | undefined): boolean {
    return this.closing?.restored(storeKey, partition, text) ?? false
  }
  override drained(timestamp: number, records: ProduceRecord[], changes: StoreChange[]): void {
    this.closing?.drain(this.t.changelog, timestamp, records, changes)
  }
  override storedOf(partition: number): StoreChange[] {
    const time = this.closing?.stored(partition)
    return time === undefined ? [] : [time]
  }
  override forget(partitions: readonly number[]): void {
    this.closing?.forget(partitions)
  }

  isExpired(end: number): boolean {
    const e = this.expiresMs
    return e !== undefined && end + e <= this.t.clock.now()
  }

  override expire(): number {
    if (this.expiresMs === undefined) return 0
    const t = this.t
    let n = 0
    for (const [sk, row] of t.rows) {
      if (this.isExpired(row.end)) {
        t.remove(sk, row.partition)
        n++
      }
    }
    return n
  }

  /** The partition of a key with a window here (so owned), after the checks a write needs; else undefined. */
  protected heldPartition(base: string, cursor: Cursor): number | undefined {
    const t = this.t
    const m = this.index.get(base)
    if (m === undefined || t.readOnly) return undefined
    for (const sk of m.values()) {
      const row = t.rows.get(sk)
      if (row === undefined) continue
      if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
      const cur = cursor.current
      if (cur !== undefined && cur.rec.partition !== row.partition)
        t.checkCopartitioned(row.partition, cursor)
      return row.partition
    }
    return undefined
  }

  /** An event for closed windows only: the table's onLate (the worker's sinks; skipped and logged by default). */
  protected late(cursor: Cursor, p: number): void {
    this.t.host.windows.lateEvent(this.t, cursor, this.closing!.time(p))
  }

  /**
   * Advances stream time of partition p to ts; every window that closed emits
   * its final value (once: the row is marked emitted, and that mark goes to the
   * changelog and store in the same commit as the emitted record).
   */
  protected closeDue(p: number, ts: number, cursor: Cursor): void {
    const t = this.t
    const c = this.closing!
    for (const sk of c.advance(p, ts)) {
      const row = t.rows.get(sk)
      c.untrack(sk)
      if (row === undefined || row.emitted) continue
      t.host.windows.windowClosed(t, row.key, { start: row.start, end: row.end, value: row.value }, cursor)
      row.emitted = true
      t.touch(sk, row)
    }
  }

  windowsOf(key: unknown, cursor: Cursor): WindowValue<unknown>[] {
    const t = this.t
    const base = t.baseKey(key)
    const m = this.index.get(base)
    if (!m) {
      t.locate(base, cursor, false)
      return []
    }
    const out: WindowValue<unknown>[] = []
    for (const sk of m.values()) {
      const row = t.rows.get(sk)
      if (row && !this.isExpired(row.end)) out.push({ start: row.start, end: row.end, value: row.value })
    }
    return out.sort((a, b) => a.start - b.start)
  }

  /** Keys with a live window. */
  *keys(): IterableIterator<unknown> {
    const rows = this.t.rows
    for (const m of this.index.values()) {
      for (const sk of m.values()) {
        const row = rows.get(sk)
        if (row && !this.isExpired(row.end)) {
          yield row.key
          break
        }
      }
    }
  }
}

/** ctx.tables.<name> of a windowed table: writes fall in the windows of the event's time (or at()'s). */
class WindowedView implements WindowedTable<unknown, unknown> {
  constructor(
    private readonly k: WindowedKind,
    private readonly cursor: Cursor,
    private readonly fixedTs: number | undefined,
  ) {}
  /** So that a stream join is refused naming the table, not as a table from elsewhere. */
  get [TABLE_RUNTIME](): TableRuntime {
    return this.k.t
  }
  private ts(): number {
    return this.fixedTs ?? this.cursor.current?.rec.timestamp ?? this.k.t.clock.now()
  }
  set(key: unknown, value: unknown): void {
    this.k.update(key, this.ts(), this.cursor, () => value)
  }
  update(key: unknown, fn: (value: unknown) => unknown): void {
    this.k.update(key, this.ts(), this.cursor, fn)
  }
  delete(key: unknown): void {
    this.k.delete(key, this.ts(), this.cursor)
  }
  at(timestampMs: number): WindowedTable<unknown, unknown> {
    return new WindowedView(this.k, this.cursor, timestampMs)
  }
  current(key: unknown): unknown {
    return this.k.get(key, this.k.window.current(this.ts()), this.cursor)
  }
  now(key: unknown): unknown {
    return this.k.get(key, this.k.window.current(this.k.t.clock.now()), this.cursor)
  }
  delta(key: unknown, duration: Duration): unknown {
    const back = toMillis(duration, `table '${this.k.t.name}' delta`)
    return this.k.get(key, this.k.window.current(this.ts() - back), this.cursor)
  }
  windows(key: unknown): WindowValue<unknown>[] {
    return this.k.windowsOf(key, this.cursor)
  }
  keys(): IterableIterator<unknown> {
    return this.k.keys()
  }
  get size(): number {
    let n = 0
    for (const _ of this.k.keys()) n++
    return n
  }
}
