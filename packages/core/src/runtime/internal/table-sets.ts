/**
 * Set tables (Faust's SetTable): each key holds a set of members, one row per
 * (key, member) stored under `<member JSON>\0<key>`. An add writes that row,
 * a discard its tombstone, so the changelog is a log of adds and discards that
 * compacts per member, and a large set never rewrites itself on a commit.
 */
import type { SetTable } from '../../definition/types.ts'
import type { Cursor } from './cursor.ts'
import { BaseKind } from './table-kind.ts'
import { TABLE_RUNTIME } from './table-views.ts'
import type { Row, TableRuntime } from './tables.ts'

/** Between a set member and its key in a store key (JSON text never holds a raw NUL). */
const SET_SEP = '\u0000'

export class SetKind extends BaseKind {
  readonly name = 'set'
  override readonly joinRefusal = 'is a set table; join a plain table'
  /** base key → the store keys of its members */
  readonly members = new Map<string, Set<string>>()

  view(cursor: Cursor): SetTable<unknown, unknown> {
    return new SetView(this, cursor)
  }

  /** A set table's value is its members: a JSON array. */
  override answer(view: unknown, key: unknown): unknown {
    return [...(view as SetTable<unknown, unknown>).get(key)]
  }
  override answerText(answer: unknown): string {
    return `[${(answer as unknown[]).map((m) => this.t.encodeValueText(m)).join(',')}]`
  }

  override baseOf(storeKey: string): string {
    return storeKey.slice(storeKey.indexOf(SET_SEP) + 1)
  }

  override added(storeKey: string, _row: Row): void {
    const base = this.baseOf(storeKey)
    let m = this.members.get(base)
    if (!m) this.members.set(base, (m = new Set()))
    m.add(storeKey)
  }

  override removed(storeKey: string, _row: Row): void {
    const base = this.baseOf(storeKey)
    const m = this.members.get(base)
    if (!m) return
    m.delete(storeKey)
    if (m.size === 0) this.members.delete(base)
  }

  memberKey(base: string, member: unknown): string {
    return `${this.t.encodeValueText(member)}${SET_SEP}${base}`
  }

  /** The partition of a key with members here (so owned), after the checks a write needs; else undefined. */
  private heldPartition(base: string, cursor: Cursor): number | undefined {
    const t = this.t
    const m = this.members.get(base)
    if (m === undefined || t.readOnly) return undefined
    for (const sk of m) {
      const row = t.rows.get(sk)
      if (row === undefined) continue
      if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
      return row.partition
    }
    return undefined
  }

  add(key: unknown, member: unknown, cursor: Cursor): void {
    const t = this.t
    const base = t.baseKey(key)
    const p = this.heldPartition(base, cursor) ?? t.locate(base, cursor, true)
    const sk = this.memberKey(base, member)
    if (t.rows.has(sk)) return // already a member: nothing to log
    t.put(sk, key, member, p)
  }

  discard(key: unknown, member: unknown, cursor: Cursor): void {
    const t = this.t
    const base = t.baseKey(key)
    const sk = this.memberKey(base, member)
    const row = t.rows.get(sk)
    if (row === undefined) {
      t.locate(base, cursor, false)
      return
    }
    if (t.guardWrites) t.guardWrite(row.partition, base, cursor)
    t.remove(sk, row.partition)
  }

  has(key: unknown, member: unknown, cursor: Cursor): boolean {
    const t = this.t
    const base = t.baseKey(key)
    if (!this.members.has(base)) {
      t.locate(base, cursor, false)
      return false
    }
    return t.rows.has(this.memberKey(base, member))
  }

  membersOf(key: unknown, cursor: Cursor): unknown[] {
    const t = this.t
    const base = t.baseKey(key)
    const m = this.members.get(base)
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

  clear(key: unknown, cursor: Cursor): void {
    const t = this.t
    const base = t.baseKey(key)
    const m = this.members.get(base)
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
}

/** ctx.tables.<name> of a set table. */
class SetView implements SetTable<unknown, unknown> {
  constructor(
    private readonly k: SetKind,
    private readonly cursor: Cursor,
  ) {}
  get [TABLE_RUNTIME](): TableRuntime {
    return this.k.t
  }
  add(key: unknown, member: unknown): void {
    this.k.add(key, member, this.cursor)
  }
  discard(key: unknown, member: unknown): void {
    this.k.discard(key, member, this.cursor)
  }
  has(key: unknown, member: unknown): boolean {
    return this.k.has(key, member, this.cursor)
  }
  get(key: unknown): ReadonlySet<unknown> {
    return new Set(this.k.membersOf(key, this.cursor))
  }
  delete(key: unknown): void {
    this.k.clear(key, this.cursor)
  }
  *keys(): IterableIterator<unknown> {
    const rows = this.k.t.rows
    for (const m of this.k.members.values())
      for (const sk of m) {
        const row = rows.get(sk)
        if (row !== undefined) {
          yield row.key
          break
        }
      }
  }
  get size(): number {
    return this.k.members.size
  }
}
