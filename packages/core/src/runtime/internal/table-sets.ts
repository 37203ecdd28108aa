/**
 * Set tables (Faust's SetTable): each key holds a set of members, one row per
 * (key, member) stored under `<member JSON>\0<key>`. An add writes that row,
 * a discard its tombstone, so the changelog is a log of adds and discards that
 * compacts per member, and a large set never rewrites itself on a commit.
 */
import type { SetTable } from '../../definition/types.ts'
import type { Cursor } from './cursor.ts'
import { SET_SEP, type TableRuntime } from './tables.ts'

const memberKey = (t: TableRuntime, base: string, member: unknown) =>
  `${t.encodeValueText(member)}${SET_SEP}${base}`

/** The partition of a key with members here (so owned), after the checks a write needs; else undefined. */
function heldPartition(t: TableRuntime, base: string, cursor: Cursor): number | undefined {
  const m = t.members.get(base)
  if (m === undefined || t.readOnly) return undefined
  for (const sk of m) {
    const row = t.rows.get(sk)
    if (row === undefined) continue
    if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
    return row.partition
  }
  return undefined
}

export function setAdd(t: TableRuntime, key: unknown, member: unknown, cursor: Cursor): void {
  const base = t.baseKey(key)
  const p = heldPartition(t, base, cursor) ?? t.locate(base, cursor, true)
  const sk = memberKey(t, base, member)
  if (t.rows.has(sk)) return // already a member: nothing to log
  t.put(sk, key, member, p)
}

export function setDiscard(t: TableRuntime, key: unknown, member: unknown, cursor: Cursor): void {
  const base = t.baseKey(key)
  const sk = memberKey(t, base, member)
  const row = t.rows.get(sk)
  if (row === undefined) {
    t.locate(base, cursor, false)
    return
  }
  if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
  t.remove(sk, row.partition)
}

export function setHas(t: TableRuntime, key: unknown, member: unknown, cursor: Cursor): boolean {
  const base = t.baseKey(key)
  if (!t.members.has(base)) {
    t.locate(base, cursor, false)
    return false
  }
  return t.rows.has(memberKey(t, base, member))
}

export function setMembers(t: TableRuntime, key: unknown, cursor: Cursor): unknown[] {
  const base = t.baseKey(key)
  const m = t.members.get(base)
  if (m === undefined) {
    t.locate(base, cursor, false)
    return []
  }
  const out: unknown[] = []
  for (const sk of m) {
    const row = t.rows.get(sk)
    if (row !== undefined) out.push(row.value)
  }
  return out
}

export function setClear(t: TableRuntime, key: unknown, cursor: Cursor): void {
  const base = t.baseKey(key)
  const m = t.members.get(base)
  if (m === undefined) {
    t.locate(base, cursor, false)
    return
  }
  for (const sk of [...m]) {
    const row = t.rows.get(sk)
    if (row === undefined) continue
    if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
    t.remove(sk, row.partition)
  }
}

/** ctx.tables.<name> of a set table. */
export class SetView implements SetTable<unknown, unknown> {
  constructor(
    private readonly t: TableRuntime,
    private readonly cursor: Cursor,
  ) {}
  add(key: unknown, member: unknown): void {
    setAdd(this.t, key, member, this.cursor)
  }
  discard(key: unknown, member: unknown): void {
    setDiscard(this.t, key, member, this.cursor)
  }
  has(key: unknown, member: unknown): boolean {
    return setHas(this.t, key, member, this.cursor)
  }
  get(key: unknown): ReadonlySet<unknown> {
    return new Set(setMembers(this.t, key, this.cursor))
  }
  delete(key: unknown): void {
    setClear(this.t, key, this.cursor)
  }
  *keys(): IterableIterator<unknown> {
    for (const m of this.t.members.values())
      for (const sk of m) {
        const row = this.t.rows.get(sk)
        if (row !== undefined) {
          yield row.key
          break
        }
      }
  }
  get size(): number {
    return this.t.members.size
  }
}
