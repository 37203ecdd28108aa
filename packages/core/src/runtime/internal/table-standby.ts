/**
 * Standby rows of a table: copies of partitions other workers own, kept
 * current from their changelogs, promoted to the table's own rows when their
 * partitions are assigned here (no recovery from zero) and demoted back when
 * they are revoked.
 */
import type { BrokerRecord, StoreChange } from '../../ports/index.ts'
import { eachChange } from './changelog.ts'
import type { Row, TableRuntime } from './tables.ts'

/** Applies changelog records of partitions this worker stands by for to their standby rows. */
export function applyStandby(t: TableRuntime, records: readonly BrokerRecord[]): StoreChange[] {
  return eachChange(records, (sk, text, partition) => {
    if (t.kind.restored(sk, partition, text)) return
    let rows = t.standby.get(partition)
    if (!rows) t.standby.set(partition, (rows = new Map()))
    if (text === undefined) rows.delete(sk)
    else rows.set(sk, t.kind.rowOf(sk, text, partition))
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
      t.kind.added(sk, row)
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
    t.kind.removed(sk, row)
    t.dirty.delete(sk)
    let rows = t.standby.get(row.partition)
    if (!rows) t.standby.set(row.partition, (rows = new Map()))
    rows.set(sk, row)
  }
}

/**
 * Forgets standby partitions no longer stood by for, in memory only. Their
 * store rows stay: they are a snapshot as of the partition's stored offset (a
 * store file may be shared with the partition's owner, whose rows they are),
 * read again by whoever follows or recovers the partition next.
 */
export function releaseStandby(t: TableRuntime, partitions: readonly number[]): void {
  for (const p of partitions) {
    t.standby.delete(p)
    t.standbyAt.delete(p)
  }
}

/**
 * Starts standing by for a partition from the store: its rows there become
 * standby rows, and the offset they reflect (read first: a shared store's
 * owner may write on while the pages are read, and replaying from the older
 * offset brings any newer row back to the same state) is where tailing starts.
 * Undefined when the store holds nothing of the partition.
 */
export async function loadStandby(
  t: TableRuntime,
  p: number,
  pageSize: number,
): Promise<{ at: number; rows: number } | undefined> {
  const at = t.store.persistedOffsets([p]).get(p)
  if (at === undefined) return undefined
  const rows = new Map<string, Row>()
  for (const page of t.store.scan(p, pageSize)) {
    for (const r of page)
      if (!t.kind.restored(r.key, p, r.value)) rows.set(r.key, t.kind.rowOf(r.key, r.value, p))
    // A large partition is read a page per turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.standby.set(p, rows)
  return { at, rows: rows.size }
}

/**
 * Which of a batch of changelog records (one partition, in offset order, after
 * `prev`: where the follower had reached) this follower writes to the store,
 * as the index of the first: the store must stay a snapshot as of its stored
 * offset. A shared store's owner writes ahead of its followers: records it
 * already stored are skipped, and when the store is behind `prev` (emptied, or
 * written from elsewhere) nothing is written, as that would skip records.
 * `stored` is the store's offset, or undefined for a partition it does not
 * hold, which stands for a snapshot at `base` (the log's start when following began).
 */
export function firstToStore(
  records: readonly BrokerRecord[],
  prev: number,
  stored: number | undefined,
  base: number,
): number | undefined {
  const at = stored ?? base
  if (at < prev) return undefined
  let i = 0
  while (i < records.length && records[i]!.offset < at) i++
  return i < records.length ? i : undefined
}

/**
 * Where a partition about to be taken over from its standby rows (or a global
 * table's tail), which reflect the changelog up to `position`, is replayed
 * from. The store is a snapshot as of its own offset: from there when that is
 * earlier (records the follower read but left to the owner to store, replayed
 * over newer rows, end where the rows are); when the store has nothing the
 * changelog still reaches, the partition's rows are written to it afresh
 * from memory, so that later commits, which write changed rows only, keep it whole.
 */
export function takeOverFrom(t: TableRuntime, p: number, position: number, base: number): number {
  const stored = t.store.persistedOffsets([p]).get(p)
  if (stored !== undefined && stored >= base) return Math.min(stored, position)
  const changes: StoreChange[] = []
  for (const [sk, row] of t.placement.heldRows(t, p))
    if (row.partition === p) changes.push({ partition: p, key: sk, value: t.storedText(row) })
  changes.push(...t.kind.storedOf(p))
  t.store.dropPartitions([p])
  t.store.apply(changes, new Map([[p, position]]))
  t.host.log.info(`table '${t.name}': partition ${p} written to the store from memory`, { position })
  return position
}
