/**
 * Standby rows of a table: copies of partitions other workers own, kept
 * current from their changelogs, promoted to the table's own rows when their
 * partitions are assigned here (no recovery from zero) and demoted back when
 * they are revoked.
 */
import type { BrokerRecord, StoreChange } from '../../ports/index.ts'
import { eachChange } from './changelog.ts'
import type { TableRuntime } from './tables.ts'

/** Applies changelog records of partitions this worker stands by for to their standby rows. */
export function applyStandby(t: TableRuntime, records: readonly BrokerRecord[]): StoreChange[] {
  return eachChange(records, (sk, text, partition) => {
    let rows = t.standby.get(partition)
    if (!rows) t.standby.set(partition, (rows = new Map()))
    if (text === undefined) rows.delete(sk)
    else rows.set(sk, t.rowOf(sk, text, partition))
  })
}

/** Standby rows become the table's own (their partitions were assigned here). */
export function promote(t: TableRuntime, partitions: readonly number[]): number {
  let n = 0
  for (const p of partitions) {
    const rows = t.standby.get(p)
    if (!rows) continue
    t.standby.delete(p)
    t.standbyAt.delete(p)
    for (const [sk, row] of rows) {
      t.rows.set(sk, row)
      if (t.indexed) t.indexIn(sk, row.start)
    }
    n += rows.size
  }
  return n
}

/**
 * The rows of revoked partitions become standby rows (their store rows stay),
 * as of the offset this worker's store holds for them now, just after its last
 * commit of them and before another worker can be given them.
 */
export function demote(t: TableRuntime, partitions: readonly number[]): void {
  const gone = new Set(partitions)
  for (const [p, o] of t.store.persistedOffsets(partitions)) t.standbyAt.set(p, o)
  for (const [sk, row] of t.rows) {
    if (!gone.has(row.partition)) continue
    t.rows.delete(sk)
    if (t.indexed) t.indexOut(sk, row.start)
    t.dirty.delete(sk)
    let rows = t.standby.get(row.partition)
    if (!rows) t.standby.set(row.partition, (rows = new Map()))
    rows.set(sk, row)
  }
}

/** Forgets standby partitions no longer stood by for, in memory and in the store. */
export function releaseStandby(t: TableRuntime, partitions: readonly number[]): void {
  for (const p of partitions) {
    t.standby.delete(p)
    t.standbyAt.delete(p)
  }
  t.store.dropPartitions(partitions)
}
