/**
 * Rebalances, as the group consumer reports them. On an assignment: read where
 * each new partition was committed, then recover the table partitions that
 * now come with it before anything of them is processed (a failure while
 * starting fails the start; later, a lasting or non-retriable one stops the
 * worker rather than process with tables that did not load). On a revoke:
 * hand out nothing more of those partitions, let handlers finish the record
 * they hold, commit, and keep the rows of the table partitions that go with
 * them until another member is known to own them. The app's rebalance hooks
 * run at those two points: assigned once the tables are recovered (before any
 * record is processed), revoked once processing stopped and is committed
 * (before the partitions go); ctx.signal of a revoked partition aborts first.
 */

import * as Effect from 'effect/Effect'
import type * as Scope from 'effect/Scope'
import { asFailure, messageOf, retriable } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { Broker, GroupConsumer, RebalanceListener, TopicPartition } from '../ports/index.ts'
import { fmtTps, tpKey } from '../ports/topic-partitions.ts'
import type { Assignment } from './assignment.ts'
import { demote, promote, releaseStandby } from './internal/table-standby.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { Recover } from './recovery.ts'
import type { Timekeeper } from './time.ts'
import { type ConsumerSlot, isStopping, type WorkerStatus } from './worker-state.ts'

/** How long the state of newly assigned partitions may fail to load (retriably) before the worker gives up. */
const ASSIGN_GIVE_UP_MS = 90_000

export interface RebalanceDeps {
  readonly log: Logger
  /** The worker's clock: how long loading may keep failing is measured on it. */
  readonly time: Timekeeper
  readonly broker: Broker
  readonly consumer: ConsumerSlot
  readonly assignment: Assignment
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly recover: Recover
  /** Partitions kept current elsewhere than by owning them (standby replicas, global tables). */
  readonly replicas: {
    /** Stops tailing a partition assigned here; its position, if it was tailed. */
    takeOver(t: TableRuntime, partition: number): number | undefined
  }
  /** Commits what is processed (`commit(true)`: letting handlers finish the record they hold first). */
  readonly committer: { commit(settle: boolean): Promise<void> }
  /**
   * The worker: its state, the 'recovering' it shows while a rebalance recovers tables,
   * whether its start has finished, and its crash when state fails to load.
   */
  readonly worker: WorkerStatus & { recovering(on: boolean): void }
  /** Told of each assignment change once it is done, in this order. */
  readonly observers: readonly RebalanceObserver[]
  /** Refuses an assignment holding partitions its topics did not have (it stops the worker itself). */
  readonly partitionWatch?: { admits(partitions: readonly TopicPartition[]): Promise<boolean> }
  /** The app's hooks and ctx.signal (lifecycle.ts); hooks never throw and have a deadline. */
  readonly hooks?: {
    readonly signals: {
      assigned(tps: readonly TopicPartition[]): void
      revoked(tps: readonly TopicPartition[]): void
    }
    fire(event: 'partitionsAssigned' | 'partitionsRevoked', tps: readonly TopicPartition[]): Promise<void>
  }
  /** Where a partition the group never committed starts (config autoOffsetReset; default 'earliest'). */
  readonly autoOffsetReset?: 'earliest' | 'latest'
}

/** A part that follows assignment changes (readiness, the sensor, the membership, the replicas). */
export interface RebalanceObserver {
  rebalanced(kind: 'assigned' | 'revoked', partitions: readonly TopicPartition[]): void
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/**
 * Where a partition revoked from this worker and kept in memory (not followed since) resumes:
 * its rows reflect the changelog up to the offset noted when it was revoked. Without such an
 * offset the kept rows are forgotten and the partition is recovered as usual.
 */
function kept(t: TableRuntime, p: number): number | undefined {
  if (t.global || !t.standby.has(p)) return undefined
  const at = t.standbyAt.get(p)
  if (at === undefined) releaseStandby(t, [p])
  return at
}

export class Rebalancer implements RebalanceListener {
  private failingSince: number | undefined
  /** Global tables whose every partition has been loaded once. */
  private readonly loadedGlobal = new Set<TableRuntime>()
  /** An assignment whose state failed to load while starting (the start fails with it). */
  startFailure: unknown
  constructor(private readonly d: RebalanceDeps) {}

  onAssign = async (tps: readonly TopicPartition[]): Promise<void> => {
    if (this.d.partitionWatch && !(await this.d.partitionWatch.admits(tps)))
      throw new Error(`assignment refused: ${fmtTps(tps)} holds partitions its topics did not have`)
    try {
      await this.assign(tps)
      this.failingSince = undefined
      this.startFailure = undefined
    } catch (e) {
      // While starting, start() fails with it: not every consumer (Kafka's) fails its start
      // when the listener does, and none of it may be processed with tables that did not load.
      if (!this.d.worker.started) {
        this.startFailure = e
        throw e
      }
      // Never process partitions whose tables did not load. A broker that is briefly away is
      // retried by the consumer; anything else, or a failure that lasts, stops the worker.
      const since = (this.failingSince ??= this.d.time.now())
      const state = this.d.worker.state
      if (
        state !== 'stopping' &&
        state !== 'stopped' &&
        (!retriable(asFailure(e)) || this.d.time.now() - since > ASSIGN_GIVE_UP_MS)
      )
        this.d.worker.crash(`loading the state of ${fmtTps(tps)} failed: ${messageOf(e)}`)
      throw e
    }
  }

  private async assign(tps: readonly TopicPartition[]): Promise<void> {
    const { assignment, broker, tables } = this.d
    this.d.hooks?.signals.assigned(tps)
    assignment.add(tps)
    const committed = await this.d.consumer.current.committed(tps)
    const have = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c]))
    const missing = tps.filter((tp) => !have.has(tpKey(tp.topic, tp.partition)))
    const latest = this.d.autoOffsetReset === 'latest'
    const starts = missing.length
      ? await (latest ? broker.endOffsets(missing) : broker.beginningOffsets(missing))
      : []
    // The Kafka client resolves 'latest' only when it starts fetching: records sent in between
    // would be skipped. The end as of the assignment is sought explicitly, on every broker alike.
    if (latest) for (const o of starts) this.d.consumer.current.seek(o)
    assignment.startAt([...committed, ...starts])
    const before = this.d.worker.state
    // Which table partitions this assignment brought in, and whether a local copy (standby or kept rows) made them warm.
    const warm: string[] = []
    const cold: string[] = []
    for (const t of tables.values()) {
      // Another worker may have bound (and written) a table this one has not: its changelog says.
      if (t.partitions === undefined) {
        const n = await broker.partitions(t.changelog)
        if (n === undefined) continue
        t.bind(n, `its changelog has ${n}`)
      }
      const next = assignment.heldPartitions(t)
      const added = [...next].filter((p) => !t.owned.has(p))
      // What was tailed here (a standby, a global table's rows) is taken over from where the tail reached.
      const from = new Map<number, number>()
      for (const p of added) {
        const position = this.d.replicas.takeOver(t, p) ?? kept(t, p)
        if (position !== undefined) from.set(p, position)
      }
      if (!t.global) {
        promote(t, [...from.keys()])
        for (const p of added) (from.has(p) ? warm : cold).push(`${t.name}:${p}`)
      }
      // A global table holds every partition: the first assignment loads those it does not own too.
      const extra =
        t.global && !this.loadedGlobal.has(t) ? range(t.partitions!).filter((p) => !next.has(p)) : []
      if (added.length || extra.length) {
        if (before === 'running') this.d.worker.recovering(true)
        await this.d.recover(t, [...added, ...extra], from)
      }
      if (t.global) this.loadedGlobal.add(t)
      assignment.settle(t)
    }
    if (before === 'running' && this.d.worker.state === 'recovering') this.d.worker.recovering(false)
    // `held`: everything this worker processes now (incremental rebalances hand out only what moves).
    this.d.log.info('partitions assigned', {
      partitions: fmtTps(tps),
      held: fmtTps([...assignment.partitions.values()]),
      ...(warm.length ? { warm: warm.join(',') } : {}),
      ...(cold.length ? { cold: cold.join(',') } : {}),
    })
    await this.d.hooks?.fire('partitionsAssigned', tps)
    for (const o of this.d.observers) o.rebalanced('assigned', tps)
  }

  onRevoke = async (tps: readonly TopicPartition[]): Promise<void> => {
    const { assignment, tables } = this.d
    // Hand out nothing more of the revoked partitions (their next owner reads it from the committed
    // offsets), let handlers inside a record of them finish it, and commit that: this worker was its
    // last owner. A record still in a handler after the revoke would write its table changes to a
    // changelog partition another worker already holds.
    this.d.hooks?.signals.revoked(tps)
    for (const q of assignment.queues()) q.dropBuffered(tps)
    const state = this.d.worker.state
    if (state === 'running' || state === 'recovering') await this.d.committer.commit(true).catch(() => {})
    await this.d.hooks?.fire('partitionsRevoked', tps)
    for (const q of assignment.queues()) q.drop(tps)
    assignment.remove(tps)
    if (isStopping(this.d.worker)) return
    for (const t of tables.values()) {
      const gone = assignment.settle(t)
      if (!gone.length) continue
      // A global table keeps every partition's rows (tailed from now on). Other rows stay, in
      // memory and in the store, as of the commit just made: a partition that comes back (an
      // eager rebalance hands most of them back at once) replays only what was written since.
      // They are let go once another member is known to own them (Replicator.releaseKept), or
      // kept current if this worker stands by for them.
      if (t.global) continue
      demote(t, gone)
    }
    this.d.log.info('partitions revoked', {
      partitions: fmtTps(tps),
      held: fmtTps([...assignment.partitions.values()]),
    })
    for (const o of this.d.observers) o.rebalanced('revoked', tps)
  }
}

/**
 * Joins the group in the current scope: the consumer starts (and the
 * rebalancer recovers what it is given before anything of it is fetched), and
 * leaves the group when the scope closes. A start whose state did not load fails.
 */
export const joinGroup = (o: {
  readonly broker: Broker
  readonly groupId: string
  readonly topics: readonly string[]
  readonly rebalancer: Rebalancer
  /** This worker's group metadata (its id, and its web URL for table queries). */
  readonly metadata: string
  readonly readCommitted: boolean
  readonly autoOffsetReset?: 'earliest' | 'latest'
  /** This worker's stable identity (static membership), if it has one. */
  readonly instanceId: string | undefined
  /** Holds the consumer as soon as it exists (the listener runs before start() resolves). */
  readonly slot: ConsumerSlot
}): Effect.Effect<GroupConsumer, unknown, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const c = o.broker.groupConsumer({
          groupId: o.groupId,
          topics: o.topics,
          listener: o.rebalancer,
          memberMetadata: o.metadata,
          ...(o.instanceId !== undefined ? { instanceId: o.instanceId } : {}),
          readCommitted: o.readCommitted,
          ...(o.autoOffsetReset ? { autoOffsetReset: o.autoOffsetReset } : {}),
        })
        o.slot.hold(c)
        try {
          await c.start()
          if (o.rebalancer.startFailure !== undefined) throw o.rebalancer.startFailure
        } catch (e) {
          await c.close().catch(() => {})
          throw e
        }
        return c
      },
      catch: asFailure,
    }),
    (c) => Effect.promise(() => c.close().catch(() => {})),
  )
