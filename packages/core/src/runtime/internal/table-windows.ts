/**
 * Windowed tables: a row per (key, window start), found through the table's
 * index; writes act on every window containing the event's time, reads on the
 * window of a given time, expired windows are skipped (and dropped by expire).
 */
import type { WindowValue } from '../../definition/types.ts'
import type { WindowRange } from '../../definition/windows.ts'
import type { Cursor } from './cursor.ts'
import type { TableRuntime } from './tables.ts'

/** The live session of a key that contains ts, if any. */
function sessionAt(t: TableRuntime, base: string, ts: number) {
  const m = t.index.get(base)
  if (m === undefined) return undefined
  for (const sk of m.values()) {
    const row = t.rows.get(sk)
    if (row !== undefined && row.start <= ts && ts < row.end && !t.isExpired(row.end)) return row
  }
  return undefined
}

/**
 * A session write at ts: the key's live sessions within the gap of ts (before
 * or after) become one, from the earliest start to the latest end (at least
 * ts + gap), their values merged oldest first; fn then updates it. The merged
 * away sessions are deleted: tombstones in the same commit as the new one.
 */
function sessionUpdate(
  t: TableRuntime,
  key: unknown,
  ts: number,
  cursor: Cursor,
  fn: (v: unknown) => unknown,
): void {
  const w = t.def.window!
  const gap = w.gapMs!
  const base = t.baseKey(key)
  const p = heldPartition(t, base, cursor) ?? t.locate(base, cursor, true)
  const c = t.closing
  if (c?.closed(p, ts + gap)) {
    late(t, cursor, p)
    return
  }
  const touching: { sk: string; start: number; end: number; value: unknown }[] = []
  for (const sk of t.index.get(base)?.values() ?? []) {
    const row = t.rows.get(sk)
    if (row === undefined || t.isExpired(row.end) || row.emitted) continue
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
  if (t.isExpired(end)) return
  const sk = t.windowKey(base, start)
  for (const s of touching) if (s.sk !== sk) t.remove(s.sk, p)
  t.put(sk, key, fn(touching.length ? value : t.makeDefaultValue()), p, start, end)
  const row = t.rows.get(sk)!
  if (row.end !== end) {
    row.end = end
    if (c?.tracks) c.track(sk, row)
  }
  if (c !== undefined) closeDue(t, p, ts, cursor)
}

export function windowGet(t: TableRuntime, key: unknown, range: WindowRange, cursor: Cursor): unknown {
  const base = t.baseKey(key)
  if (!t.index.has(base)) t.locate(base, cursor, false)
  if (t.sessions) return sessionAt(t, base, range.start)?.value ?? t.makeDefaultValue()
  if (t.isExpired(range.end)) return t.makeDefaultValue()
  const row = t.rows.get(t.windowKey(base, range.start))
  return row === undefined ? t.makeDefaultValue() : row.value
}

export function windowUpdate(
  t: TableRuntime,
  key: unknown,
  ts: number,
  cursor: Cursor,
  fn: (v: unknown) => unknown,
): void {
  if (t.sessions) {
    sessionUpdate(t, key, ts, cursor, fn)
    return
  }
  const base = t.baseKey(key)
  const p = heldPartition(t, base, cursor) ?? t.locate(base, cursor, true)
  const c = t.closing
  const ranges = t.def.window!.ranges(ts)
  if (c !== undefined && ranges.every((r) => c.closed(p, r.end))) {
    late(t, cursor, p)
    return
  }
  for (const r of ranges) {
    if (t.isExpired(r.end) || c?.closed(p, r.end)) continue
    const sk = t.windowKey(base, r.start)
    const row = t.rows.get(sk)
    t.put(sk, key, fn(row === undefined ? t.makeDefaultValue() : row.value), p, r.start, r.end)
  }
  if (c !== undefined) closeDue(t, p, ts, cursor)
}

/** An event for closed windows only: the table's onLate (the worker's sinks; skipped and logged by default). */
function late(t: TableRuntime, cursor: Cursor, p: number): void {
  t.host.windows.lateEvent(t, cursor, t.closing!.time(p))
}

/**
 * Advances stream time of partition p to ts; every window that closed emits
 * its final value (once: the row is marked emitted, and that mark goes to the
 * changelog and store in the same commit as the emitted record).
 */
function closeDue(t: TableRuntime, p: number, ts: number, cursor: Cursor): void {
  for (const sk of t.closing!.advance(p, ts)) {
    const row = t.rows.get(sk)
    t.closing!.untrack(sk)
    if (row === undefined || row.emitted) continue
    t.host.windows.windowClosed(t, row.key, { start: row.start, end: row.end, value: row.value }, cursor)
    row.emitted = true
    t.touch(sk, row)
  }
}

/** The partition of a windowed key with a row here (so owned), after the checks a write needs; else undefined. */
function heldPartition(t: TableRuntime, base: string, cursor: Cursor): number | undefined {
  const m = t.index.get(base)
  if (m === undefined || t.readOnly) return undefined
  for (const sk of m.values()) {
    const row = t.rows.get(sk)
    if (row === undefined) continue
    if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
    const cur = cursor.current
    if (cur !== undefined && cur.rec.partition !== row.partition) t.checkCopartitioned(row.partition, cursor)
    return row.partition
  }
  return undefined
}

export function windowDelete(t: TableRuntime, key: unknown, ts: number, cursor: Cursor): void {
  const base = t.baseKey(key)
  const p = t.locate(base, cursor, true)
  if (t.sessions) {
    const row = sessionAt(t, base, ts)
    if (row !== undefined) t.remove(t.windowKey(base, row.start), p)
    return
  }
  for (const r of t.def.window!.ranges(ts)) t.remove(t.windowKey(base, r.start), p)
}

export function windowsOf(t: TableRuntime, key: unknown, cursor: Cursor): WindowValue<unknown>[] {
  const base = t.baseKey(key)
  const m = t.index.get(base)
  if (!m) {
    t.locate(base, cursor, false)
    return []
  }
  const out: WindowValue<unknown>[] = []
  for (const sk of m.values()) {
    const row = t.rows.get(sk)
    if (row && !t.isExpired(row.end)) out.push({ start: row.start, end: row.end, value: row.value })
  }
  return out.sort((a, b) => a.start - b.start)
}

export function* windowKeys(t: TableRuntime): IterableIterator<unknown> {
  for (const m of t.index.values()) {
    for (const sk of m.values()) {
      const row = t.rows.get(sk)
      if (row && !t.isExpired(row.end)) {
        yield row.key
        break
      }
    }
  }
}
