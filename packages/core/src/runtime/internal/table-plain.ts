/**
 * Plain tables: one row per key, stored under the key's text as its value.
 * The kind the others start from (table-kind.ts), and the view agents write
 * through: a write of a key held here updates its row in place.
 */
import type { Table } from '../../definition/types.ts'
import type { Cursor } from './cursor.ts'
import { BaseKind } from './table-kind.ts'
import { TABLE_RUNTIME } from './table-views.ts'
import type { TableRuntime } from './tables.ts'

export class PlainKind extends BaseKind {
  readonly name: 'plain' | 'joined' = 'plain'

  view(cursor: Cursor): Table<unknown, unknown> {
    return new PlainView(this.t, cursor)
  }
}

export class PlainView implements Table<unknown, unknown> {
  constructor(
    protected readonly t: TableRuntime,
    protected readonly cursor: Cursor,
  ) {}
  get [TABLE_RUNTIME](): TableRuntime {
    return this.t
  }
  get(key: unknown): unknown {
    const t = this.t
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    if (row !== undefined) {
      const cur = this.cursor.current
      if (cur !== undefined && cur.rec.partition !== row.partition)
        t.placement.readAcross(t, row.partition, this.cursor)
      return row.value
    }
    t.locate(base, this.cursor, false)
    return t.makeDefaultValue()
  }
  set(key: unknown, value: unknown): void {
    const t = this.t
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    t.put(
      base,
      key,
      value,
      row !== undefined ? this.existing(row.partition, base) : t.locate(base, this.cursor, true),
    )
  }
  update(key: unknown, fn: (value: unknown) => unknown): void {
    const t = this.t
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    if (row !== undefined) {
      // The common case in place: one lookup, no new row. A row held here is in a partition
      // this worker owns (rows of revoked partitions are dropped), unless the table is global.
      if (t.guardWrites) t.guardWrite(row.partition, base, this.cursor)
      if (!t.warnedCopartition) {
        const cur = this.cursor.current
        if (cur !== undefined && cur.rec.partition !== row.partition)
          t.checkCopartitioned(row.partition, this.cursor)
      }
      row.value = fn(row.value)
      t.touch(base, row)
      return
    }
    const p = t.locate(base, this.cursor, true)
    t.put(base, key, fn(t.makeDefaultValue()), p)
  }
  /** An existing row's partition, after the checks a write of it needs. */
  private existing(p: number, base: string): number {
    const t = this.t
    if (t.guardWrites) t.guardWrite(p, base, this.cursor)
    const cur = this.cursor.current
    if (cur !== undefined && cur.rec.partition !== p) t.checkCopartitioned(p, this.cursor)
    return p
  }
  delete(key: unknown): void {
    const t = this.t
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    if (row === undefined) {
      t.locate(base, this.cursor, false)
      return
    }
    t.remove(base, this.existing(row.partition, base))
  }
  has(key: unknown): boolean {
    const t = this.t
    const base = t.baseKey(key)
    if (t.rows.has(base)) return true
    t.locate(base, this.cursor, false)
    return false
  }
  *entries(): IterableIterator<[unknown, unknown]> {
    for (const row of this.t.rows.values()) yield [row.key, row.value]
  }
  get size(): number {
    return this.t.rows.size
  }
}
