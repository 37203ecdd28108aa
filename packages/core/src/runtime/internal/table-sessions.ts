/**
 * Session windows: a key's window grows with its events and ends a gap after
 * the last, so each row's end is its own, stored with its value. A write
 * within the gap of one or more live sessions merges them into one.
 */
import type { WindowRange } from '../../definition/windows.ts'
import type { Cursor } from './cursor.ts'
import { WindowedKind } from './table-windowed.ts'
import type { Row, TableRuntime } from './tables.ts'

export class SessionKind extends WindowedKind {
  readonly name = 'session'

  constructor(t: TableRuntime) {
    super(t, true)
  }

  /** The live session of a key that contains ts, if any. */
  private sessionAt(base: string, ts: number): Row | undefined {
    const m = this.index.get(base)
    if (m === undefined) return undefined
    for (const sk of m.values()) {
      const row = this.t.rows.get(sk)
      if (row !== undefined && row.start <= ts && ts < row.end && !this.isExpired(row.end)) return row
    }
    return undefined
  }

  get(key: unknown, range: WindowRange, cursor: Cursor): unknown {
    const t = this.t
    const base = t.baseKey(key)
    if (!this.index.has(base)) t.locate(base, cursor, false)
    return this.sessionAt(base, range.start)?.value ?? t.makeDefaultValue()
  }

  /**
   * A session write at ts: the key's live sessions within the gap of ts (before
   * or after) become one, from the earliest start to the latest end (at least
   * ts + gap), their values merged oldest first; fn then updates it. The merged
   * away sessions are deleted: tombstones in the same commit as the new one.
   */
  update(key: unknown, ts: number, cursor: Cursor, fn: (v: unknown) => unknown): void {
    const t = this.t
    const w = this.window
    const gap = w.gapMs!
    const base = t.baseKey(key)
    const p = this.heldPartition(base, cursor) ?? t.locate(base, cursor, true)
    const c = this.closing
    if (c?.closed(p, ts + gap)) {
      this.late(cursor, p)
      return
    }
    const touching: { sk: string; start: number; end: number; value: unknown }[] = []
    for (const sk of this.index.get(base)?.values() ?? []) {
      const row = t.rows.get(sk)
      if (row === undefined || this.isExpired(row.end) || row.emitted) continue
      if (row.start - gap <= ts && ts < row.end)
        touching.push({ sk, start: row.start, end: row.end, value: row.value })
    }
    touching.sort((a, b) => a.start - b.start)
    let start = ts
    let end = ts + gap
    let value: unknown
    for (const s of touching) {
      start = Math.min(start, s.start)
      end = Math.max(end, s.end)
      value = value === undefined ? s.value : w.merge!(value, s.value)
    }
    if (this.isExpired(end)) return
    const sk = this.windowKey(base, start)
    for (const s of touching) if (s.sk !== sk) t.remove(s.sk, p)
    t.put(sk, key, fn(touching.length ? value : t.makeDefaultValue()), p, start, end)
    const row = t.rows.get(sk)!
    if (row.end !== end) {
      row.end = end
      if (c?.tracks) c.track(sk, row)
    }
    if (c !== undefined) this.closeDue(p, ts, cursor)
  }

  delete(key: unknown, ts: number, cursor: Cursor): void {
    const t = this.t
    const base = t.baseKey(key)
    const p = t.locate(base, cursor, true)
    const row = this.sessionAt(base, ts)
    if (row !== undefined) t.remove(this.windowKey(base, row.start), p)
  }
}
