/**
 * Table recovery: the rows of newly held partitions from the local store, then
 * the changelog from the offset the store reflects to its end. It reads the
 * store in pages and hands the event loop back every few milliseconds, so a
 * worker loading a large table still answers /health (503 with the progress it
 * reports to the sensor).
 */
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type { Broker, Store, StoreChange, TopicPartitionOffset } from '../ports/index.ts'
import type { RecoveryProgress } from '../ports/sensor.ts'
import type { Assignment } from './assignment.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { WorkerSensor } from './sensor.ts'
import { isStopping, type WorkerStatus } from './worker-state.ts'

/** Rows loaded from the store per page, and changelog records per fetch. */
const PAGE = 2_000
/** Work done between two turns of the event loop. */
const SLICE_MS = 10

export interface RecoveryDeps {
  readonly broker: Broker
  readonly store: Store
  readonly config: ResolvedConfig
  readonly log: Logger
  /** Told the progress while recovering (undefined when done), and the totals when finished. */
  readonly sensor: Pick<WorkerSensor, 'recovery'>
  /** Once the worker is stopping, recovery stops where it is. */
  readonly worker: WorkerStatus
}

/** Recovers partitions of a table (from positions already held in memory, if given). */
export type Recover = (
  t: TableRuntime,
  partitions: readonly number[],
  from?: ReadonlyMap<number, number>,
) => Promise<void>

/** recoverTable with the worker's dependencies bound. */
export const recoverer =
  (d: RecoveryDeps): Recover =>
  (t, partitions, from) =>
    recoverTable(t, partitions, d, from)

/**
 * Rebuilds partitions of a table: rows from the store, then the changelog
 * beyond the store's offset. Partitions in `from` already have their rows in
 * memory up to the given changelog offset (taken over from a standby or a
 * global table's tail): only the changelog from there is replayed.
 */
export async function recoverTable(
  t: TableRuntime,
  mine: readonly number[],
  d: RecoveryDeps,
  from: ReadonlyMap<number, number> = new Map(),
): Promise<void> {
  const started = performance.now()
  const progress = {
    table: t.name,
    partitions: mine,
    phase: 'store' as RecoveryProgress['phase'],
    storeRows: 0,
    changelogDone: 0,
    changelogTotal: 0,
    startedAt: Date.now(),
  }
  d.sensor.recovery(progress)
  let slice = performance.now()
  const breathe = async () => {
    if (performance.now() - slice < SLICE_MS) return
    await new Promise((r) => setImmediate(r))
    slice = performance.now()
  }
  let done = 0
  try {
    for (const p of mine) {
      if (from.has(p)) continue
      for (const page of t.store.scan(p, PAGE)) {
        for (let i = 0; i < page.length; i++) {
          const row = page[i]!
          t.loadRow(row.key, row.value, row.partition)
          if ((i & 255) === 255) {
            progress.storeRows += 256
            await breathe()
          }
        }
        progress.storeRows += page.length & 255
        if (isStopping(d.worker)) return
      }
    }
    const persisted = t.store.persistedOffsets(mine)
    const tps = mine.map((p) => ({ topic: t.changelog, partition: p }))
    const ends = await d.broker.endOffsets(tps)
    const starts = await d.broker.beginningOffsets(tps)
    const todo: TopicPartitionOffset[] = []
    let expected = 0
    for (const e of ends) {
      const start = Math.max(
        from.get(e.partition) ?? persisted.get(e.partition) ?? 0,
        starts.find((s) => s.partition === e.partition)?.offset ?? 0,
      )
      if (start < e.offset) {
        todo.push({ topic: t.changelog, partition: e.partition, offset: start })
        expected += e.offset - start
      }
    }
    if (!todo.length) return
    progress.phase = 'changelog'
    progress.changelogTotal = expected
    d.log.info(`recovering table '${t.name}'`, { partitions: mine.join(','), records: expected })
    // Under exactly-once the changelog holds aborted writes (a worker killed inside a transaction).
    const reader = d.broker.reader(todo, d.config.guarantee === 'exactly_once' ? { readCommitted: true } : {})
    const target = new Map(ends.map((e) => [e.partition, e.offset]))
    const reached = new Map<number, number>(todo.map((x) => [x.partition, x.offset]))
    let lastReport = performance.now()
    try {
      while ([...reached].some(([p, o]) => o < target.get(p)!)) {
        const batches = await reader.fetch({ maxRecords: PAGE, maxWaitMs: 500 })
        const changes: StoreChange[] = []
        for (const b of batches) {
          changes.push(...t.applyChangelog(b.records))
          reached.set(b.partition, b.records[b.records.length - 1]!.offset + 1)
          done += b.records.length
        }
        progress.changelogDone = done
        if (reader.position) {
          // A transactional log ends in markers, not records: trust the reader's position.
          for (const [p, o] of reached) {
            const pos = reader.position({ topic: t.changelog, partition: p })
            if (pos !== undefined && pos > o) reached.set(p, pos)
          }
        }
        if (changes.length) {
          const offsets = new Map([...reached].filter(([p]) => batches.some((b) => b.partition === p)))
          d.store.transaction(() => t.store.apply(changes, offsets))
        }
        const now = performance.now()
        if (now - lastReport > 1000) {
          const rate = done / ((now - started) / 1000)
          d.log.info(`recovering table '${t.name}'`, {
            done,
            of: expected,
            rate: `${Math.round(rate)}/s`,
            eta: `${Math.max(0, Math.round((expected - done) / Math.max(rate, 1)))}s`,
          })
          lastReport = now
        }
        await breathe()
        if (isStopping(d.worker)) break
      }
    } finally {
      await reader.close()
    }
  } finally {
    const ms = Math.round(performance.now() - started)
    d.sensor.recovery(undefined, { records: done, ms })
    if (done) d.log.info('recovery finished', { table: t.name, records: done, ms })
  }
}

/**
 * A CLI command reads every partition of every table and writes none: the workers own them.
 * Its assignment holds every partition (it is in no group); it settles each table once loaded.
 */
export async function recoverReadOnly(
  tables: ReadonlyMap<string, TableRuntime>,
  recover: Recover,
  assignment: Pick<Assignment, 'heldPartitions' | 'settle'>,
): Promise<void> {
  for (const t of tables.values()) {
    t.markReadOnly()
    if (t.partitions === undefined) continue
    await recover(t, [...assignment.heldPartitions(t)])
    assignment.settle(t)
  }
}
