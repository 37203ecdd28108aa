/**
 * Retention and compaction of the broker log, run in the background in small
 * transactions so producers and fetchers in other processes are never held up
 * for long, with the event loop yielded between chunks.
 *
 * - Retention deletes the oldest records of a partition while their timestamp
 *   is older than the topic's retentionMs (a prefix, like Kafka's segments).
 * - Compaction keeps the newest record per key: a map of the newest offset per
 *   key is built over the part written since the last pass ("dirty"), then the
 *   whole partition up to there is swept. Tombstones (null values) that are the
 *   newest for their key are dropped once older than `delete.retention.ms`
 *   (topic config; default one day), so readers have time to see them.
 *
 * Surviving records keep their offsets; beginningOffsets reads the first one.
 */
import type { BrokerFile } from './file.ts'
import type { TopicInfo } from './log.ts'

export interface MaintenanceOptions {
  /** The time to judge ages against (default Date.now()). */
  readonly now?: number
  /** Compact every partition with anything new, not only those with enough new records. */
  readonly force?: boolean
}

export interface MaintenanceResult {
  /** Records deleted by retention. */
  readonly expired: number
  /** Records deleted by compaction (superseded values and old tombstones). */
  readonly compacted: number
}

const CHUNK = 2_000
/** At most this many keys are mapped per pass; the rest waits for the next pass. */
const MAP_LIMIT = 200_000
/** A partition is compacted when what is new since the last pass is at least this share of what was kept. */
const DIRTY_RATIO = 0.5
const MIN_DIRTY = 1_000
const DEFAULT_DELETE_RETENTION_MS = 86_400_000

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

interface PartitionState {
  next_offset: number
  cleaned_upto: number
  clean_count: number
}

export class Maintenance {
  private readonly s

  constructor(private readonly broker: BrokerFile) {
    const db = broker.db
    this.s = {
      state: db.prepare<[number], PartitionState>(
        'SELECT next_offset, cleaned_upto, clean_count FROM partitions WHERE id = ?',
      ),
      ages: db
        .prepare<[number, number], [number, number]>(
          'SELECT off, timestamp FROM records WHERE tp = ? ORDER BY off LIMIT ?',
        )
        .raw(),
      deleteBefore: db.prepare<[number, number]>('DELETE FROM records WHERE tp = ? AND off < ?'),
      keys: db
        .prepare<[number, number, number], [number, Buffer | null]>(
          'SELECT off, key FROM records WHERE tp = ? AND off >= ? ORDER BY off LIMIT ?',
        )
        .raw(),
      sweep: db
        .prepare<[number, number, number, number], [number, Buffer | null, number, number]>(
          `SELECT off, key, timestamp, value IS NULL FROM records
           WHERE tp = ? AND off >= ? AND off < ? ORDER BY off LIMIT ?`,
        )
        .raw(),
      deleteOne: db.prepare<[number, number]>('DELETE FROM records WHERE tp = ? AND off = ?'),
      cleaned: db.prepare<[number, number, number]>(
        'UPDATE partitions SET cleaned_upto = ?, clean_count = ? WHERE id = ?',
      ),
    }
  }

  async run(options: MaintenanceOptions): Promise<MaintenanceResult> {
    const now = options.now ?? Date.now()
    let expired = 0
    let compacted = 0
    const topics = this.broker.run('listing topics', () => this.broker.log.allTopics())
    for (const t of topics) {
      if (t.retentionMs === null && !t.compacted) continue
      for (const id of t.ids) {
        if (this.broker.closed) return { expired, compacted }
        if (t.retentionMs !== null) expired += await this.expire(t, id, now - t.retentionMs)
        if (t.compacted) compacted += await this.compact(t, id, now, options.force === true)
      }
    }
    return { expired, compacted }
  }

  private async expire(t: TopicInfo, id: number, cutoff: number): Promise<number> {
    let deleted = 0
    for (;;) {
      const rows = this.broker.run(`reading '${t.name}' for retention`, () => this.s.ages.all(id, CHUNK))
      let keep = 0
      while (keep < rows.length && rows[keep]![1] < cutoff) keep++
      if (keep === 0) return deleted
      const bound = keep === rows.length ? rows[keep - 1]![0] + 1 : rows[keep]![0]
      deleted += this.broker.write(
        `deleting expired records of '${t.name}'`,
        () => this.s.deleteBefore.run(id, bound).changes,
        false,
      )
      if (keep < rows.length || rows.length < CHUNK || this.broker.closed) return deleted
      await tick()
    }
  }

  private async compact(t: TopicInfo, id: number, now: number, force: boolean): Promise<number> {
    const what = `compacting '${t.name}'`
    const state = this.broker.run(what, () => this.s.state.get(id))
    if (!state) return 0
    const dirty = state.next_offset - state.cleaned_upto
    if (dirty <= 0 || (!force && dirty < Math.max(MIN_DIRTY, state.clean_count * DIRTY_RATIO))) return 0
    // 1. the newest offset per key among the records written since the last pass
    const latest = new Map<string, number>()
    let upto = state.cleaned_upto
    while (latest.size < MAP_LIMIT && !this.broker.closed) {
      const rows = this.broker.run(what, () => this.s.keys.all(id, upto, CHUNK))
      for (const [off, key] of rows) if (key !== null) latest.set(key.toString('latin1'), off)
      if (rows.length) upto = rows[rows.length - 1]![0] + 1
      if (rows.length < CHUNK) break
      await tick()
    }
    // 2. sweep everything before `upto`, oldest first, so an old value always goes before its tombstone
    const tombstoneCutoff = now - Number(t.config['delete.retention.ms'] ?? DEFAULT_DELETE_RETENTION_MS)
    let from = 0
    let deleted = 0
    let kept = 0
    while (!this.broker.closed) {
      const rows = this.broker.run(what, () => this.s.sweep.all(id, from, upto, CHUNK))
      if (!rows.length) break
      const doomed: number[] = []
      for (const [off, key, timestamp, isNull] of rows) {
        if (key === null) {
          kept++
          continue
        }
        const newest = latest.get(key.toString('latin1'))
        // The last record of the partition always stays, so "last record + 1" reaches the end offset.
        if (off === state.next_offset - 1) kept++
        else if ((newest !== undefined && newest > off) || (isNull === 1 && timestamp < tombstoneCutoff))
          doomed.push(off)
        else kept++
      }
      if (doomed.length)
        deleted += this.broker.write(
          what,
          () => {
            let n = 0
            for (const off of doomed) n += this.s.deleteOne.run(id, off).changes
            return n
          },
          false,
        )
      from = rows[rows.length - 1]![0] + 1
      if (rows.length < CHUNK) break
      await tick()
    }
    if (!this.broker.closed) this.broker.write(what, () => this.s.cleaned.run(upto, kept, id), false)
    return deleted
  }
}
