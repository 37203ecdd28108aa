/**
 * What an agent's `ctx.tables.<name>` is: a view of a table bound to the
 * agent's cursor (the event being processed decides the partition a write
 * goes to and the timestamp a windowed write falls in). Each kind makes its
 * own view (table-kind.ts); this is where the runtime asks for one.
 */
import type { Table, WindowedTable } from '../../definition/types.ts'
import type { Cursor } from './cursor.ts'
import type { TableRuntime } from './tables.ts'

export function tableView(
  t: TableRuntime,
  cursor: Cursor,
): Table<unknown, unknown> | WindowedTable<unknown, unknown> {
  return t.kind.view(cursor) as Table<unknown, unknown> | WindowedTable<unknown, unknown>
}

/** The runtime behind a table view, for operators that check how it is partitioned (joins). */
export const TABLE_RUNTIME: unique symbol = Symbol('stream-app.table-runtime')

/** The runtime of a table view made here, else undefined (a table from elsewhere). */
export const runtimeOf = (table: unknown): TableRuntime | undefined =>
  (table as { [TABLE_RUNTIME]?: TableRuntime } | null)?.[TABLE_RUNTIME]
