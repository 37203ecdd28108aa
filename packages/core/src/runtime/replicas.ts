/**
 * Table partitions this worker does not own but keeps current, by tailing
 * their changelogs in a fiber: every partition of a global table (its rows
 * are read here), and, with `standbyReplicas: n`, standby copies of the
 * partitions whose owner is one of the n members before this one in the
 * group's order (rows kept ready, never read). When such a partition is
 * assigned here, it is taken over from where the tail reached instead of
 * being recovered from zero. What is followed is worked out again after every
 * rebalance and membership change.
 */

import * as Effect from 'effect/Effect'
import { asFailure, messageOf } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type { Broker, PartitionReader, RecordBatch, Store } from '../ports/index.ts'
import type { Assignment } from './assignment.ts'
import {
  applyStandby,
  firstToStore,
  loadStandby,
  releaseStandby,
  takeOverFrom,
} from './internal/table-standby.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { Member, Membership } from './members.ts'
import { repeatWithBackoff } from './retry.ts'

interface Followed {
  readonly t: TableRuntime
  readonly partition: number
  /** The next changelog offset to apply. */
  position: number
  /** The changelog's start when following began: what an empty store partition stands for. */
  readonly base: number
}

const FETCH_MAX = 5_000
const FETCH_WAIT_MS = 250
/** Store rows read per turn of the event loop when standing by starts from the store. */
const STORE_PAGE = 5_000

const keyOf = (t: TableRuntime, p: number) => `${t.changelog}\u0000${p}`

export interface ReplicaDeps {
  readonly broker: Broker
  readonly store: Store
  readonly config: ResolvedConfig
  readonly log: Logger
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly assignment: Assignment
  /** Who is in the group (the standby duties follow its order). */
  readonly members: Pick<Membership, 'list' | 'selfId'>
}

export class Replicator {
  private readonly followed = new Map<string, Followed>()
  private reader: PartitionReader | undefined
  private generation = 0
  private wake: (() => void) | undefined
  /** Serialises updates (membership changes and rebalances come whenever). */
  private updating: Promise<void> = Promise.resolve()

  constructor(private readonly d: ReplicaDeps) {}

  /** The partitions to follow now: what is not owned of global tables, and standby duties. */
  private wanted(): { t: TableRuntime; partition: number }[] {
    const out: { t: TableRuntime; partition: number }[] = []
    const n = this.d.config.standbyReplicas
    const members = n > 0 ? this.d.members.list() : []
    const self = members.findIndex((m) => m.id === this.d.members.selfId)
    for (const t of this.d.tables.values()) {
      if (t.partitions === undefined || t.readOnly) continue
      for (let p = 0; p < t.partitions; p++) {
        if (t.owned.has(p)) continue
        if (t.global) out.push({ t, partition: p })
        else if (n > 0 && self >= 0 && this.standsBy(t, p, members, self, n)) out.push({ t, partition: p })
      }
    }
    return out
  }

  /** The index of the member that owns partition p of a table, or -1 while nobody is known to. */
  private ownerOf(t: TableRuntime, p: number, members: readonly Member[]): number {
    return members.findIndex((m) => this.d.assignment.memberHolds(m.assignment, t.partitions!, p))
  }

  /** This worker is among the n members after partition p's owner, in the group's order. */
  private standsBy(t: TableRuntime, p: number, members: readonly Member[], self: number, n: number): boolean {
    const owner = this.ownerOf(t, p, members)
    if (owner < 0 || owner === self) return false
    for (let k = 1; k <= Math.min(n, members.length - 1); k++)
      if ((owner + k) % members.length === self) return true
    return false
  }

  /** A rebalance reached this worker: what it owns changed. */
  rebalanced(): void {
    void this.update()
  }

  /** Works out what to follow again (after a rebalance or a membership change) and re-aims the reader. */
  update(): Promise<void> {
    this.updating = this.updating
      .then(() => this.doUpdate())
      .catch((e) => {
        this.d.log.warn(`standby replicas: ${messageOf(e)}`)
      })
    return this.updating
  }

  private async doUpdate(): Promise<void> {
    const want = new Map(this.wanted().map((w) => [keyOf(w.t, w.partition), w] as const))
    let changed = false
    for (const [k, f] of this.followed) {
      if (want.has(k)) continue
      this.followed.delete(k)
      if (!f.t.global) releaseStandby(f.t, [f.partition])
      changed = true
    }
    for (const [k, w] of want) {
      if (this.followed.has(k)) continue
      this.followed.set(k, { ...w, ...(await this.startOf(w.t, w.partition)) })
      changed = true
    }
    if (changed) this.reaim()
    this.releaseKept()
  }

  /**
   * Rows of revoked partitions are kept in memory (demoted), so a partition
   * that comes back replays only what was written since it left. They are let
   * go (in memory; the store keeps its snapshot) once another member is known
   * to own the partition and this worker does not stand by for it.
   */
  private releaseKept(): void {
    const members = this.d.members.list()
    const self = members.findIndex((m) => m.id === this.d.members.selfId)
    for (const t of this.d.tables.values()) {
      if (t.global || t.partitions === undefined) continue
      for (const p of [...t.standby.keys()]) {
        if (t.owned.has(p) || this.followed.has(keyOf(t, p))) continue
        const owner = this.ownerOf(t, p, members)
        if (owner >= 0 && owner !== self) releaseStandby(t, [p])
      }
    }
  }

  /**
   * Where following a partition starts: where the rows it holds already reflect
   * (a global table's: the store's offset; standby rows of a partition it owned
   * until now: the offset noted when they were demoted, as the store may be
   * shared with the new owner, who has written past it since); otherwise the
   * store's rows of the partition and their offset (loadStandby); never before
   * the changelog's start. Nothing is deleted from the store: it may be the
   * owner's, and a store left behind the changelog's start is written afresh
   * at a takeover (takeOverFrom).
   */
  private async startOf(t: TableRuntime, p: number): Promise<{ position: number; base: number }> {
    const [begin] = await this.d.broker.beginningOffsets([{ topic: t.changelog, partition: p }])
    const base = begin?.offset ?? 0
    let held: number | undefined
    let from = 'rows already held'
    if (t.global) held = t.store.persistedOffsets([p]).get(p)
    else if (t.standby.has(p)) held = t.standbyAt.get(p)
    else {
      const loaded = await loadStandby(t, p, STORE_PAGE)
      held = loaded?.at
      from = `${loaded?.rows ?? 0} rows from the store`
    }
    t.standbyAt.delete(p)
    // As recovery does: from the later of the two, the rows (if any) replayed over.
    if (held === undefined || held < base) from = "the changelog's start"
    const position = Math.max(held ?? base, base)
    if (!t.global)
      this.d.log.info(`standby of table '${t.name}' partition ${p} starts at changelog offset ${position}`, {
        from,
      })
    return { position, base }
  }

  /**
   * Stops following a partition that is being assigned here and hands over
   * where its recovery replays the changelog from: its rows (global, or
   * promoted standby rows) reflect it up to the followed position, and the
   * store as of its offset (takeOverFrom). Undefined when it was not followed.
   */
  takeOver(t: TableRuntime, p: number): number | undefined {
    const f = this.followed.get(keyOf(t, p))
    if (!f) return undefined
    this.followed.delete(keyOf(t, p))
    this.reaim()
    return this.d.store.transaction(() => takeOverFrom(t, p, f.position, f.base))
  }

  /** Followed partitions of a table (tests, the sensor). */
  following(t: TableRuntime): number[] {
    return [...this.followed.values()].filter((f) => f.t === t).map((f) => f.partition)
  }

  private reaim(): void {
    this.generation++
    const old = this.reader
    this.reader = undefined
    if (old) {
      old.wakeup()
      void old.close().catch(() => {})
    }
    if (this.followed.size)
      this.reader = this.d.broker.reader(
        [...this.followed.values()].map((f) => ({
          topic: f.t.changelog,
          partition: f.partition,
          offset: f.position,
        })),
        this.d.config.guarantee === 'exactly_once' ? { readCommitted: true } : {},
      )
    this.wake?.()
  }

  private apply(batches: readonly RecordBatch[], reader: PartitionReader): void {
    const byTable = new Map<TableRuntime, { batch: RecordBatch; prev: number; base: number }[]>()
    for (const b of batches) {
      const f = [...this.followed.values()].find(
        (x) => x.t.changelog === b.topic && x.partition === b.partition,
      )
      if (!f || b.records.length === 0) continue
      const item = { batch: b, prev: f.position, base: f.base }
      const list = byTable.get(f.t)
      if (list) list.push(item)
      else byTable.set(f.t, [item])
      f.position = b.records[b.records.length - 1]!.offset + 1
    }
    for (const f of this.followed.values()) {
      // A transactional log ends in markers, not records: trust the reader's position.
      const pos = reader.position?.({ topic: f.t.changelog, partition: f.partition })
      if (pos !== undefined && pos > f.position) f.position = pos
    }
    for (const [t, list] of byTable) {
      const changes = list.map(({ batch }) =>
        t.global ? t.applyChangelog(batch.records) : applyStandby(t, batch.records),
      )
      // The store gets what it does not hold yet, read and written in one transaction: a store
      // shared with the partitions' owner (and other followers) stays a snapshot as of its offsets.
      this.d.store.transaction(() => {
        const stored = t.store.persistedOffsets(list.map((x) => x.batch.partition))
        list.forEach(({ batch, prev, base }, i) => {
          const records = batch.records
          const from = firstToStore(records, prev, stored.get(batch.partition), base)
          if (from === undefined) return
          // The batch's changes are its keyed records in order: skip those of the records before `from`.
          let skip = 0
          for (let j = 0; j < from; j++) if (records[j]!.key !== null) skip++
          const end = records[records.length - 1]!.offset + 1
          t.store.apply(changes[i]!.slice(skip), new Map([[batch.partition, end]]))
          stored.set(batch.partition, end)
        })
      })
    }
  }

  /** The tailing fiber: runs until interrupted. */
  readonly loop: Effect.Effect<never> = repeatWithBackoff(
    Effect.suspend(() => {
      const reader = this.reader
      const generation = this.generation
      if (!reader)
        return Effect.callback<void>((resume) => {
          this.wake = () => resume(Effect.void)
          return Effect.sync(() => {
            this.wake = undefined
          })
        }).pipe(Effect.ensuring(Effect.sync(() => (this.wake = undefined))))
      return Effect.tryPromise({
        try: (signal) => {
          signal.addEventListener('abort', () => reader.wakeup(), { once: true })
          return reader.fetch({ maxRecords: FETCH_MAX, maxWaitMs: FETCH_WAIT_MS })
        },
        catch: asFailure,
      }).pipe(
        // A batch fetched for what was followed before a change is dropped: it is read again.
        Effect.tap((batches) =>
          Effect.sync(() => {
            if (generation === this.generation) this.apply(batches, reader)
          }),
        ),
        // A failure of a reader replaced meanwhile is not one: the next step reads with the new one.
        Effect.catch((e) => (generation === this.generation ? Effect.fail(e) : Effect.void)),
      )
    }),
    (e, delay) =>
      this.d.log.warn(
        `standby replicas: reading changelogs failed: ${messageOf(e)}; trying again in ${Math.round(delay)}ms`,
      ),
  )

  close(): void {
    this.generation++
    const r = this.reader
    this.reader = undefined
    if (r) {
      r.wakeup()
      void r.close().catch(() => {})
    }
  }
}
