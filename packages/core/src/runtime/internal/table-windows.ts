/**
 * Windowed tables of fixed windows (tumbling, hopping, sliding): a write acts
 * on every window containing the event's time, a read on the window of a
 * given time; expired windows are skipped (and dropped by expire). Rows are
 * stored as their value unless the table emits final values (table-windowed.ts).
 */
import type { WindowRange } from '../../definition/windows.ts'
import type { Cursor } from './cursor.ts'
import { WindowedKind } from './table-windowed.ts'
import type { TableRuntime } from './tables.ts'

export class RangeWindowKind extends WindowedKind {
  readonly name = 'windowed'

  constructor(t: TableRuntime) {
    super(t, t.def.final !== undefined)
  }

  get(key: unknown, range: WindowRange, cursor: Cursor): unknown {
    const t = this.t
    const base = t.baseKey(key)
    if (!this.index.has(base)) t.locate(base, cursor, false)
    if (this.isExpired(range.end)) return t.makeDefaultValue()
    const row = t.rows.get(this.windowKey(base, range.start))
    return row === undefined ? t.makeDefaultValue() : row.value
  }

  update(key: unknown, ts: number, cursor: Cursor, fn: (v: unknown) => unknown): void {
    const t = this.t
    const base = t.baseKey(key)
    const p = this.heldPartition(base, cursor) ?? t.locate(base, cursor, true)
    const c = this.closing
    const ranges = this.window.ranges(ts)
    if (c !== undefined && ranges.every((r) => c.closed(p, r.end))) {
      this.late(cursor, p)
      return
    }
    for (const r of ranges) {
      if (this.isExpired(r.end) || c?.closed(p, r.end)) continue
      const sk = this.windowKey(base, r.start)
      const row = t.rows.get(sk)
      t.put(sk, key, fn(row === undefined ? t.makeDefaultValue() : row.value), p, r.start, r.end)
    }
    if (c !== undefined) this.closeDue(p, ts, cursor)
  }

  delete(key: unknown, ts: number, cursor: Cursor): void {
    const t = this.t
    const base = t.baseKey(key)
    const p = t.locate(base, cursor, true)
    for (const r of this.window.ranges(ts)) t.remove(this.windowKey(base, r.start), p)
  }
}
