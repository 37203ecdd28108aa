/**
 * Where a table's rows are held: the axis that composes with every kind
 * (table-kind.ts). Partitioned, the default: a worker holds the partitions it
 * owns and touches no key of another. Global: every worker holds every
 * partition's rows (tailing the changelogs of those it does not own) and
 * reads any key, but writes only keys of the partitions it owns. Chosen with
 * the kind in table-kinds.ts.
 */
import type { Cursor } from './cursor.ts'
import type { Row, TableRuntime } from './tables.ts'

export interface Placement {
  /** Every worker holds every partition's rows. */
  readonly global: boolean
  /**
   * Throws NotOwnedError unless this worker may touch key `base` of partition p,
   * and reports (once) a key used outside its event's partition where that matters.
   */
  reach(t: TableRuntime, base: string, p: number, cursor: Cursor, write: boolean): void
  /** A read of a row held here, in partition p, by an event of another partition. */
  readAcross(t: TableRuntime, p: number, cursor: Cursor): void
  /** The rows of partition p a takeover writes to the store from memory. */
  heldRows(t: TableRuntime, p: number): ReadonlyMap<string, Row>
}

const NONE: ReadonlyMap<string, Row> = new Map()

export const partitioned: Placement = {
  global: false,
  reach(t, base, p, cursor) {
    if (!t.owned.has(p)) throw t.notOwned(base, p, cursor)
    t.checkCopartitioned(p, cursor)
  },
  readAcross(t, p, cursor) {
    t.checkCopartitioned(p, cursor)
  },
  // Standby rows: the partition's owner kept them current elsewhere.
  heldRows: (t, p) => t.standby.get(p) ?? NONE,
}

export const global: Placement = {
  global: true,
  // Any key reads here, from any partition (nothing to report); only owned ones write.
  reach(t, base, p, cursor, write) {
    if (write) partitioned.reach(t, base, p, cursor, write)
  },
  readAcross() {},
  heldRows: (t) => t.rows,
}
