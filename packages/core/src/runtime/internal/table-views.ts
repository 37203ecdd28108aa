/**
 * What an agent's `ctx.tables.<name>` is: a view of a table bound to the
 * agent's cursor (the event being processed decides the partition a write
 * goes to and the timestamp a windowed write falls in).
 */
import { type Duration, toMillis } from '../../definition/duration.ts'
import { ConfigError } from '../../definition/errors.ts'
import type { Table, WindowedTable, WindowValue } from '../../definition/types.ts'
import type { Cursor } from './cursor.ts'
import { SetView } from './table-sets.ts'
import { windowDelete, windowGet, windowKeys, windowsOf, windowUpdate } from './table-windows.ts'
import type { TableRuntime } from './tables.ts'

export function tableView(
  t: TableRuntime,
  cursor: Cursor,
): Table<unknown, unknown> | WindowedTable<unknown, unknown> {
  if (t.setTable) return new SetView(t, cursor) as unknown as Table<unknown, unknown>
  return t.windowed ? new WindowedView(t, cursor, undefined) : new PlainView(t, cursor)
}

const derivedWrite = (t: TableRuntime) =>
  new ConfigError(
    `table '${t.name}' is joined from '${t.def.join!.left}' and '${t.def.join!.right}': the join writes it, agents only read it`,
  )

/** The runtime behind a table view, for operators that check how it is partitioned (joins). */
export const TABLE_RUNTIME: unique symbol = Symbol('stream-app.table-runtime')

/** The runtime of a table view made here, else undefined (a table from elsewhere). */
export const runtimeOf = (table: unknown): TableRuntime | undefined =>
  (table as { [TABLE_RUNTIME]?: TableRuntime } | null)?.[TABLE_RUNTIME]

class PlainView implements Table<unknown, unknown> {
  constructor(
    private readonly t: TableRuntime,
    private readonly cursor: Cursor,
  ) {}
  get [TABLE_RUNTIME](): TableRuntime {
    return this.t
  }
  get(key: unknown): unknown {
    return this.t.get(key, this.cursor)
  }
  set(key: unknown, value: unknown): void {
    const t = this.t
    if (t.derived) throw derivedWrite(t)
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
    if (t.derived) throw derivedWrite(t)
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
    if (t.derived) throw derivedWrite(t)
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    if (row === undefined) {
      t.locate(base, this.cursor, false)
      return
    }
    t.remove(base, this.existing(row.partition, base))
  }
  has(key: unknown): boolean {
    return this.t.has(key, this.cursor)
  }
  *entries(): IterableIterator<[unknown, unknown]> {
    for (const row of this.t.rows.values()) yield [row.key, row.value]
  }
  get size(): number {
    return this.t.rows.size
  }
}

class WindowedView implements WindowedTable<unknown, unknown> {
  constructor(
    private readonly t: TableRuntime,
    private readonly cursor: Cursor,
    private readonly fixedTs: number | undefined,
  ) {}
  private ts(): number {
    return this.fixedTs ?? this.cursor.current?.rec.timestamp ?? this.t.clock.now()
  }
  set(key: unknown, value: unknown): void {
    windowUpdate(this.t, key, this.ts(), this.cursor, () => value)
  }
  update(key: unknown, fn: (value: unknown) => unknown): void {
    windowUpdate(this.t, key, this.ts(), this.cursor, fn)
  }
  delete(key: unknown): void {
    windowDelete(this.t, key, this.ts(), this.cursor)
  }
  at(timestampMs: number): WindowedTable<unknown, unknown> {
    return new WindowedView(this.t, this.cursor, timestampMs)
  }
  current(key: unknown): unknown {
    return windowGet(this.t, key, this.t.def.window!.current(this.ts()), this.cursor)
  }
  now(key: unknown): unknown {
    return windowGet(this.t, key, this.t.def.window!.current(this.t.clock.now()), this.cursor)
  }
  delta(key: unknown, duration: Duration): unknown {
    return windowGet(
      this.t,
      key,
      this.t.def.window!.current(this.ts() - toMillis(duration, `table '${this.t.name}' delta`)),
      this.cursor,
    )
  }
  windows(key: unknown): WindowValue<unknown>[] {
    return windowsOf(this.t, key, this.cursor)
  }
  keys(): IterableIterator<unknown> {
    return windowKeys(this.t)
  }
  get size(): number {
    let n = 0
    for (const _ of windowKeys(this.t)) n++
    return n
  }
}
