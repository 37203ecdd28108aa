/**
 * Commits, the two protocols. At-least-once: sink and changelog sends
 * acknowledged → one store transaction (table rows and the changelog offsets
 * they reflect) → consumer offsets. Exactly-once: sends, changelog writes and
 * offsets in one transaction (one SQLite transaction on sqlite://, a Kafka
 * transaction on kafka://), taken while no handler is inside a message.
 * A commit that fails rewinds the worker to the last one.
 */

import { randomUUID } from 'node:crypto'
import * as Match from 'effect/Match'
import { asFailure, type Failure, messageOf, retriable, unwrapFailure } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type {
  Broker,
  ProduceRecord,
  RecordMetadata,
  Store,
  TopicPartitionOffset,
  TransactionalProducer,
} from '../ports/index.ts'
import { fmtTps, tpKey } from '../ports/topic-partitions.ts'
import type { Assignment } from './assignment.ts'
import type { Activity } from './internal/activity.ts'
import type { AgentRunner } from './internal/instance.ts'
import type { Outbox } from './internal/outbox.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { Recover } from './recovery.ts'
import { retryUntil } from './retry.ts'
import type { Rpc } from './rpc.ts'
import type { WorkerSensor } from './sensor.ts'
import type { Timekeeper } from './time.ts'
import { type ConsumerSlot, isRunning, isStopping, type WorkerStatus } from './worker-state.ts'

/**
 * A rewind retries a broker error that is not said to be retriable this long (on the worker's
 * clock) before stopping the worker.
 */
const REBUILD_GIVE_UP_MS = 60_000

/**
 * Whether the rebuild after a failed commit tries again: a broker error gets a
 * while even when it does not say it is retriable (a leader moving can look
 * final to the client); a store that fails, or anything else, as its tag says.
 */
const rebuildRetriable = (failure: Failure, elapsedMs: number): boolean =>
  Match.value(failure).pipe(
    Match.tag('BrokerError', (e) => e.retriable || elapsedMs < REBUILD_GIVE_UP_MS),
    Match.orElse(retriable),
  )
/** A commit running this long is logged (again every as long) with the step it is at. */
const COMMIT_SLOW_MS = 15_000
/** An exactly-once commit waits this long for a handler to leave its message, then commits anyway. */
const QUIESCE_LIMIT_MS = 30_000

export interface CommitDeps {
  readonly id: string
  readonly config: ResolvedConfig
  /**
   * This worker's stable identity, if it has one. Its transactional id is then
   * stable too: a worker restarted after a crash fences the transaction its
   * previous process left open at once, instead of every read_committed reader
   * and the next owner waiting for the broker to time it out.
   */
  readonly workerId: string | undefined
  readonly log: Logger
  readonly broker: Broker
  readonly store: Store
  readonly consumer: ConsumerSlot
  readonly assignment: Assignment
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly outbox: Outbox
  readonly activity: Activity
  /** The agents' runners: how many handlers are inside a message. */
  readonly agents: ReadonlyMap<string, AgentRunner>
  /** Asks in flight: handlers waiting for something only this commit brings (with the outbox's held sends awaited). */
  readonly rpc: Pick<Rpc, 'inFlight'>
  /**
   * Commits only while running; once stopping (or stopped) a rewind stops waiting for the
   * broker; crashed when its tables could not be rebuilt.
   */
  readonly worker: WorkerStatus
  /** Changelogs of tables bound since the last commit, being created. */
  readonly creating: ReadonlySet<Promise<void>>
  /** Rebuilds a table's partitions (after a failed exactly-once commit). */
  readonly recover: Recover
  /** Told each commit's duration and outcome. */
  readonly sensor: Pick<WorkerSensor, 'committed'>
  /** The worker's clock (the test clock under app.test()). */
  readonly time: Timekeeper
}

export class Committer {
  private committing: Promise<void> | undefined
  private again = false
  private settleAgain = false
  /** exactly-once: holds back deliveries while a commit waits for handlers to finish their message. */
  private quiescing: Promise<void> | undefined
  /** Holds back deliveries while a failed commit's rewind rebuilds the tables. */
  private rebuilding: Promise<void> | undefined
  private txProducer: TransactionalProducer | undefined
  /**
   * One transactional id for the worker's lifetime: a producer replaced after a failure opens with
   * the same id, which fences the old one and makes the broker abort its open transaction at
   * once. With a new id that transaction would stay open until transaction.timeout.ms, and
   * read_committed recovery meanwhile stops at it, missing transactions committed after it.
   */
  private readonly txId: string

  private soon = false

  constructor(private readonly d: CommitDeps) {
    this.txId = `${d.id}-${d.workerId ?? randomUUID()}`
  }

  /** Handlers inside a message. */
  private busy(): number {
    let n = 0
    for (const r of this.d.agents.values()) n += r.busyCount
    return n
  }

  /** Set while no record may be handed out: an exactly-once commit settling, or a rewind rebuilding. */
  get gate(): Promise<void> | undefined {
    return this.quiescing ?? this.rebuilding
  }

  /** Commits on the next turn of the event loop (once, however often asked meanwhile). */
  commitSoon(): void {
    if (this.soon) return
    this.soon = true
    setImmediate(() => {
      this.soon = false
      if (isRunning(this.d.worker)) this.commit().catch(() => {})
    })
  }

  /**
   * Commits what is processed. `settle` (a revoke) first lets every handler
   * finish the record it is inside, in every mode. Commits never overlap: one
   * asked for while another runs runs right after it.
   */
  commit(settle = false): Promise<void> {
    if (this.committing) {
      this.again = true
      if (settle) this.settleAgain = true
      return this.committing
    }
    const run = async (): Promise<void> => {
      let s = settle
      do {
        this.again = false
        this.settleAgain = false
        await this.once(s)
        s = this.settleAgain
      } while (this.again)
    }
    this.committing = run().finally(() => {
      this.committing = undefined
    })
    return this.committing
  }

  async close(): Promise<void> {
    await this.txProducer?.close().catch(() => {})
  }

  /**
   * exactly-once: a commit must not cut a message in half (its table changes and
   * sends in, its offset out). Hand out no new record, and wait until no handler
   * is inside a message — a handler waiting on an ask() or a held send counts as
   * outside, since what it waits for can only come after this commit.
   */
  private async quiesce(): Promise<() => void> {
    let release!: () => void
    this.quiescing = new Promise<void>((r) => {
      release = r
    })
    // On the worker's clock: app.test()'s test clock drives the give-up too.
    const deadline = this.d.time.now() + QUIESCE_LIMIT_MS
    const { activity } = this.d
    for (;;) {
      const seen = activity.current
      if (this.busy() <= this.d.rpc.inFlight + this.d.outbox.heldAwaited) break
      const left = deadline - this.d.time.now()
      if (left <= 0) {
        this.d.log.warn(
          'exactly-once commit: a handler has been inside one message for 30s; committing anyway',
        )
        break
      }
      let cancel: (() => void) | undefined
      await Promise.race([
        activity.changedSince(seen),
        new Promise<void>((r) => {
          cancel = this.d.time.after(left, r)
        }),
      ])
      cancel?.()
    }
    return () => {
      this.quiescing = undefined
      release()
    }
  }

  private async once(settle: boolean): Promise<void> {
    const stopWatch = this.watch()
    try {
      this.step = 'waiting for handlers to finish their message'
      const open =
        (this.d.outbox.holding && isRunning(this.d.worker)) || settle ? await this.quiesce() : undefined
      try {
        await this.unit()
      } finally {
        open?.()
      }
    } finally {
      stopWatch()
    }
  }

  /** What the commit in progress is doing (said when one takes long). */
  private step = ''

  /**
   * Says so, every COMMIT_SLOW_MS, while a commit takes that long: while it runs nothing new
   * is committed (and under exactly-once nothing processed), so a stuck step must show.
   */
  private watch(): () => void {
    const started = this.d.time.now()
    let cancel = () => {}
    const arm = () => {
      cancel = this.d.time.after(COMMIT_SLOW_MS, () => {
        const secs = Math.round((this.d.time.now() - started) / 1000)
        this.d.log.warn(`a commit has been running for ${secs}s: ${this.step}`)
        arm()
      })
    }
    arm()
    return () => cancel()
  }

  private async unit(): Promise<void> {
    const { outbox, tables, assignment } = this.d
    const started = performance.now()
    try {
      // Changelogs of tables bound since the last commit must exist before anything is written to them.
      const creating = [...this.d.creating]
      this.step = 'creating changelog topics'
      if (creating.length) await Promise.all(creating)
      // Snapshot first: everything processed up to here has already queued its sends and table changes.
      const offsets = this.committableOffsets()
      const now = this.d.time.now()
      const drained = [...tables.values()].map((t) => ({ t, ...t.drain(now) }))
      const changelog = drained.flatMap((d) => d.records)
      const changelogs = new Set([...tables.values()].map((t) => t.changelog))
      const applyStore = (meta: readonly RecordMetadata[]) => {
        if (!drained.some((d) => d.changes.length)) return
        const perTable = new Map<string, Map<number, number>>()
        for (const m of meta) {
          if (!changelogs.has(m.topic)) continue
          let o = perTable.get(m.topic)
          if (!o) perTable.set(m.topic, (o = new Map()))
          o.set(m.partition, Math.max(o.get(m.partition) ?? 0, m.offset + 1))
        }
        this.d.store.transaction(() => {
          for (const d of drained)
            if (d.changes.length) d.t.store.apply(d.changes, perTable.get(d.t.changelog) ?? new Map())
        })
      }
      if (outbox.holding) await this.transaction(offsets, changelog, applyStore)
      else {
        try {
          this.step = 'waiting for sends to be acknowledged'
          await outbox.flush()
          this.step = 'writing the changelog'
          applyStore(changelog.length ? await outbox.transmit(changelog) : [])
        } catch (e) {
          // A send that cannot succeed (retriable ones are retried inside the outbox): what this
          // commit covered may not be in the log, so go back to the last commit and process again.
          await this.rewind(e)
          throw e
        }
        this.step = 'committing consumed offsets'
        if (offsets.length) await this.d.consumer.current.commit(offsets)
      }
      assignment.committedAt(offsets)
      this.d.sensor.committed(performance.now() - started, true)
    } catch (e) {
      this.d.sensor.committed(performance.now() - started, false)
      this.d.log.error(`commit failed: ${messageOf(e)}`)
      throw e
    }
  }

  /**
   * exactly-once: sink sends, changelog writes and consumed offsets in one
   * transaction. On sqlite:// that is one local database transaction that also
   * holds the table rows; on Kafka a producer transaction, with the local store
   * written after it commits (recovery replays the changelog from the store's offset).
   */
  private async transaction(
    offsets: TopicPartitionOffset[],
    changelog: ProduceRecord[],
    applyStore: (meta: readonly RecordMetadata[]) => void,
  ): Promise<void> {
    const { outbox, broker, id } = this.d
    const held = outbox.takeHeld()
    const records = [...held.records, ...changelog]
    if (!records.length && !offsets.length) return
    try {
      if (broker.atomic) {
        const meta = broker.atomic.run((tx) => {
          const meta = records.length ? tx.append(records) : []
          applyStore(meta)
          if (offsets.length) tx.commitOffsets(id, offsets)
          return meta
        })
        held.settle(meta)
        return
      }
      const txp = (this.txProducer ??= broker.transactionalProducer!(this.txId))
      try {
        this.step = 'beginning a transaction'
        await txp.begin()
        this.step = `sending ${records.length} records in the transaction`
        const meta = records.length ? await txp.send(records) : []
        this.step = 'adding consumed offsets to the transaction'
        if (offsets.length) await txp.sendOffsets(this.d.consumer.current, offsets)
        this.step = 'committing the transaction'
        await txp.commit()
        held.settle(meta)
        applyStore(meta)
      } catch (e) {
        this.step = 'aborting the transaction'
        const aborted = await txp.abort().then(
          () => true,
          () => false,
        )
        // A producer that cannot abort (fenced, fatal, stuck) is replaced now, under the same id:
        // opening it aborts the old one's open transaction, which must be gone before the rewind
        // below recovers tables (read_committed stops at an open transaction).
        if (!aborted || !retriable(asFailure(e))) {
          void txp.close().catch(() => {})
          if (this.txProducer === txp) {
            this.d.log.warn(`replacing the transactional producer after: ${messageOf(e)}`)
            this.step = 'opening a new transactional producer'
            const next = broker.transactionalProducer!(this.txId)
            this.txProducer = next
            await next
              .ready?.()
              .catch((r: unknown) =>
                this.d.log.warn(`the new transactional producer is not ready: ${messageOf(r)}`),
              )
          }
        }
        throw e
      }
    } catch (e) {
      held.fail(e)
      // What this commit covered is not in the log: rewind to the last commit and rebuild.
      await this.rewind(e)
      throw e
    }
  }

  /**
   * After a failed commit the in-memory state is ahead of what is committed.
   * Hands out no record until it is rebuilt: drop what is buffered, seek back to
   * the committed offsets (the group's, as the broker has them: a commit that
   * failed on the way back may have committed), and rebuild the held table
   * partitions from the store (as of the last commit) and the changelog beyond
   * it. A broker away meanwhile is waited for; a worker stopping stops waiting;
   * anything else stops the worker, which must not go on with tables it could
   * not rebuild.
   */
  private async rewind(cause: unknown): Promise<void> {
    let release!: () => void
    this.rebuilding = new Promise<void>((r) => {
      release = r
    })
    const { assignment, tables, log } = this.d
    log.warn(`rewinding to the last commit after a failed commit: ${messageOf(cause)}`)
    try {
      // Pending changes are of records processed again after the seek; rebuild() forgets the rows.
      for (const t of tables.values()) t.discardDirty()
      this.step = 'rebuilding the tables after a failed commit'
      // An Effect on the worker's clock: the test clock drives the backoff and the give-up.
      await this.d.time
        .run(
          retryUntil(() => this.rebuild(), {
            retry: (f, elapsedMs) => !isStopping(this.d.worker) && rebuildRetriable(f, elapsedMs),
            baseMs: 250,
            maxMs: 5_000,
            onRetry: (e, delay) =>
              log.warn(
                `rebuilding after a failed commit: ${messageOf(e)}; retrying in ${Math.round(delay)}ms`,
              ),
          }),
        )
        .catch((e: unknown) => {
          throw unwrapFailure(e)
        })
      log.warn('rewound to the last commit after a failed commit', {
        partitions: fmtTps([...assignment.partitions.values()]),
      })
    } catch (e) {
      if (!isStopping(this.d.worker))
        this.d.worker.crash(`rebuilding the tables after a failed commit failed: ${messageOf(e)}`)
    } finally {
      this.rebuilding = undefined
      release()
    }
  }

  /** One try of the rewind: seek back, then reload the tables (store rows first, then the changelog). */
  private async rebuild(): Promise<void> {
    const { assignment, tables } = this.d
    const consumer = this.d.consumer.current
    // What is held now: a rebalance may have come meanwhile.
    const tps = [...assignment.partitions.values()]
    const committed = await consumer.committed(tps)
    const have = new Set(committed.map((o) => tpKey(o.topic, o.partition)))
    const local: TopicPartitionOffset[] = []
    for (const tp of tps) {
      const o = assignment.committed.get(tpKey(tp.topic, tp.partition))
      if (o !== undefined && !have.has(tpKey(tp.topic, tp.partition))) local.push({ ...tp, offset: o })
    }
    for (const q of assignment.queues()) q.drop(tps)
    const starts = [...committed, ...local]
    for (const o of starts) consumer.seek(o)
    assignment.startAt(starts)
    for (const t of tables.values()) {
      const held = [...t.owned]
      t.forgetPartitions(held)
      await this.d.recover(t, held)
    }
  }

  /** Per assigned source partition, the offset up to which every consuming queue has processed. */
  private committableOffsets(): TopicPartitionOffset[] {
    const { assignment } = this.d
    const out: TopicPartitionOffset[] = []
    for (const tp of assignment.partitions.values()) {
      const k = tpKey(tp.topic, tp.partition)
      const queues = assignment.queuesByTopic.get(tp.topic)
      if (!queues?.length) continue
      let min = Number.POSITIVE_INFINITY
      for (const q of queues) {
        const c = q.trackers.get(k)?.committable ?? -1
        // A queue that has not processed anything of this partition holds the commit back.
        if (c < 0) {
          min = -1
          break
        }
        min = Math.min(min, c)
      }
      if (min >= 0 && min > (assignment.committed.get(k) ?? -1))
        out.push({ topic: tp.topic, partition: tp.partition, offset: min })
    }
    return out
  }
}
