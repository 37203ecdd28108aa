/**
 * The GroupConsumer port over a librdkafka KafkaConsumer. Table partition p
 * moves with topic partition p, so the group always uses the `range`
 * assignor (group-protocol.ts): on the broker under the consumer protocol
 * (KIP-848, the default), where rebalances are incremental, and in the client
 * under the classic protocol, where they are eager (everything is revoked).
 *
 * Rebalances are handled in `rebalance_cb`, which librdkafka lets us finish
 * asynchronously: on revoke we await `listener.onRevoke` (the runtime commits
 * there) before unassigning; on assign we await `listener.onAssign` (the
 * runtime recovers tables) before assigning, so nothing of a new partition is
 * fetched before its state is ready. Records fetched of a partition that was
 * revoked meanwhile are dropped: its next owner reads them from the committed
 * offsets. Under the incremental protocol the partitions that stay are not
 * touched: their records keep flowing through every rebalance.
 *
 * Rebalance callbacks only fire inside consume(), so a small pump consumes
 * when the runtime is not fetching (at most one batch is held back).
 */
import { randomUUID } from 'node:crypto'
import type { LibrdKafkaError } from '@confluentinc/kafka-javascript'
import type {
  FetchOptions,
  GroupConsumer,
  GroupConsumerOptions,
  GroupMember,
  RecordBatch,
  TopicPartition,
  TopicPartitionOffset,
} from '@stream-app/core'
import { asFailure, fmtTps, retriable, retryPromise, tpKey } from '@stream-app/core/runtime'
import { type ClientContext, Code, call, errorCode, KafkaConsumer, type RdConsumer } from './client.ts'
import { consumerDefaults, Fetcher, takeBatches, toBatches } from './fetcher.ts'
import { type GroupProtocol, groupSettings, rebalanceSettleMs } from './group-protocol.ts'
import type { MembersRegistry } from './members.ts'
import type { Owner } from './owned.ts'

const CONNECT_TIMEOUT_MS = 15_000
const COMMITTED_TIMEOUT_MS = 15_000
/**
 * With read_committed, committed() waits while a transaction that sent offsets
 * for these partitions is still open (UNSTABLE_OFFSET_COMMIT, retried inside
 * librdkafka until its timeout). A member killed inside a transaction leaves
 * one open until the broker expires it (the producer's transaction timeout
 * plus the broker's abort-check interval): keep asking that long.
 */
const COMMITTED_UNSTABLE_FOR_MS = 90_000
const ON_ASSIGN_RETRY_FOR_MS = 120_000
const PUMP_EVERY_MS = 100
/** How long a closing static member serves its final revoke, and then keeps its client open for the leave. */
const LEAVE_WAIT_MS = 2_000
const LEAVE_FLUSH_MS = 250
/** The broker's answer to a static member joining while its id's previous holder is still a member. */
const UNRELEASED = /instance ID is still used/i
/**
 * Records of paused partitions held here before they are paused in librdkafka
 * too. A native pause throws away librdkafka's prefetch of the partition, and
 * a resume fetches it again from the broker: pausing natively on every short
 * backpressure pause cut throughput to a third.
 */
const SOFT_PAUSE_MAX_RECORDS = 20_000

const tick = () => new Promise<void>((r) => setImmediate(r))
/** A leaving static member's revoke not served yet (see leaveStatic). */
const NOT_YET = new Error('not served yet')
/** A join that found the broker still holding this worker id for its previous process. */
const STILL_HELD = new Error('the broker still holds this worker id')

interface NativeConsumerExtras {
  commitCb(tps: TopicPartitionOffset[], cb: (err: LibrdKafkaError | null) => void): void
  setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void
  incrementalAssign(tps: TopicPartition[]): void
  incrementalUnassign(tps: TopicPartition[]): void
}

export class KafkaGroupConsumer implements GroupConsumer {
  /** Replaced only while joining, when the broker still holds this worker's id (see doStart). */
  native: RdConsumer
  private readonly nativeConfig: Record<string, unknown>
  private topics: string[]
  readonly clientId: string
  private readonly f: Fetcher
  private assigned: TopicPartition[] = []
  private rebalancing: Promise<void> | undefined
  /** Eager rebalances (classic protocol) so far: a pull that crossed one returns nothing. */
  private rebalances = 0
  /** Partitions revoked while a pull was in flight: what it fetched of them is dropped. */
  private revokedDuringPull = new Set<string>()
  /** Revoke callbacks handled so far (a closing static member waits for its last). */
  private revokeCallbacks = 0
  readonly protocol: GroupProtocol
  readonly rebalanceSettleMs: number | undefined
  private leftovers: RecordBatch[] = []
  private readonly paused = new Set<string>()
  /** Paused partitions that librdkafka also holds paused (see SOFT_PAUSE_MAX_RECORDS). */
  private readonly nativePaused = new Set<string>()
  private readonly pendingSeeks = new Map<string, number>()
  private seekedDuringPull = new Set<string>()
  private pullInFlight: Promise<RecordBatch[]> | undefined
  private fetching = false
  private lastFetch = 0
  private pump: NodeJS.Timeout | undefined
  private closing = false
  private closed = false
  private started: Promise<void> | undefined
  private firstAssignment!: () => void

  constructor(
    private readonly ctx: ClientContext,
    private readonly options: GroupConsumerOptions,
    private readonly registry: MembersRegistry,
    clientIdPrefix: string,
    /** The broker that handed this out: told when the user closes it. */
    private readonly owner: Owner,
  ) {
    this.clientId = `${clientIdPrefix}-${randomUUID().slice(0, 8)}`
    this.f = new Fetcher(ctx)
    const group = groupSettings(ctx.config, options.instanceId)
    this.protocol = group.protocol
    this.rebalanceSettleMs = rebalanceSettleMs(group.protocol)
    this.topics = [...options.topics]
    this.nativeConfig = {
      ...consumerDefaults,
      ...ctx.config,
      ...group.settings,
      'client.id': this.clientId,
      'group.id': options.groupId,
      'auto.offset.reset': options.autoOffsetReset ?? 'earliest',
      'isolation.level': options.readCommitted ? 'read_committed' : 'read_uncommitted',
      rebalance_cb: this.onRebalance,
      queue_non_empty_cb: this.f.onQueueNonEmpty,
    }
    this.native = this.makeNative()
  }

  private makeNative(): RdConsumer {
    const native = new KafkaConsumer(this.nativeConfig as never)
    this.f.consumer = native
    this.ctx.watch(native, `consumer of group '${this.options.groupId}'`)
    return native
  }

  start(): Promise<void> {
    this.started ??= this.doStart()
    return this.started
  }

  /**
   * Joins the group. A worker with a stable id that was killed (not stopped) is
   * still a member until the broker's session timeout passes, and under the
   * consumer protocol the broker refuses the id to its next process until then
   * (UNRELEASED_INSTANCE_ID, fatal to that client): the join is tried again
   * with a new client until the broker lets go of the id.
   */
  private async doStart(): Promise<void> {
    const what = `joining consumer group '${this.options.groupId}'`
    let announced = false
    const join = async (attempt: number): Promise<void> => {
      if (attempt > 0) {
        if (this.closing) return
        this.native = this.makeNative()
      }
      try {
        await this.ctx.connect(this.native, (cb) =>
          this.native.connect({ allTopics: false, timeout: CONNECT_TIMEOUT_MS }, cb),
        )
      } catch (e) {
        throw this.ctx.error(what, e)
      }
      this.native.setDefaultConsumeTimeout(0)
      this.extras.setDefaultIsTimeoutOnlyForFirstMessage(true)
      if (!announced) {
        await this.registry.announce(this.options.groupId, this.clientId, this.options.memberMetadata ?? '')
        announced = true
      }
      const assigned = new Promise<'assigned'>((r) => {
        this.firstAssignment = () => r('assigned')
      })
      let onError: ((e: { message: string }) => void) | undefined
      const held = new Promise<'held'>((r) => {
        // librdkafka says so in an error event or only in its log, depending on where it noticed.
        onError = (e) => {
          if (UNRELEASED.test(e.message)) r('held')
        }
        this.native.on('event.error', onError)
        this.native.on('event.log', onError)
      })
      this.native.subscribe([...this.topics])
      this.pump = setInterval(() => this.runPump(), PUMP_EVERY_MS)
      this.runPump()
      const outcome = await Promise.race([assigned, held])
      if (onError) {
        this.native.removeListener('event.error', onError)
        this.native.removeListener('event.log', onError)
      }
      if (outcome === 'assigned' || this.closing) return
      clearInterval(this.pump)
      await this.pullInFlight?.catch(() => {})
      if (attempt === 0)
        this.ctx.report(
          'warn',
          `group '${this.options.groupId}': the broker still holds worker id '${this.options.instanceId}' for its previous process (stopped without leaving the group); joining again once it lets go (the group's session timeout)`,
        )
      await call((cb) => this.native.disconnect(cb)).catch(() => {})
      throw STILL_HELD
    }
    // Joined again (a new client) after the shared backoff while the broker still holds the id.
    await retryPromise(join, {
      retry: (e) => e === STILL_HELD && !this.closing,
      baseMs: 250,
      maxMs: 2_000,
    }).catch((e: unknown) => {
      if (e !== STILL_HELD) throw e
    })
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    this.topics = [...topics]
    this.native.subscribe([...topics])
  }

  // -- rebalance -------------------------------------------------------------------

  /** Tells the members registry what this member holds now (routing of table keys). */
  private claim(): void {
    this.registry.claim(this.options.groupId, this.clientId, this.options.memberMetadata ?? '', this.assigned)
  }

  /** Native calls the binding has but its typings lack. */
  private get extras(): NativeConsumerExtras {
    return this.native as unknown as NativeConsumerExtras
  }

  /** True when rebalances hand out and take back only the partitions that move (KIP-848). */
  private get incremental(): boolean {
    return this.protocol === 'consumer'
  }

  private readonly onRebalance = (err: LibrdKafkaError | undefined, tps: TopicPartition[]): void => {
    const parts = tps.map((tp) => ({ topic: tp.topic, partition: tp.partition }))
    const assign = err?.code === Code.ASSIGN_PARTITIONS
    if (this.incremental) {
      if (!assign) {
        const gone = new Set(parts.map((tp) => tpKey(tp.topic, tp.partition)))
        for (const k of gone) this.revokedDuringPull.add(k)
        this.leftovers = this.leftovers.filter((b) => !gone.has(tpKey(b.topic, b.partition)))
      }
    } else {
      this.rebalances++
      this.leftovers = []
    }
    const prev = this.rebalancing ?? Promise.resolve()
    const p: Promise<void> = prev.then(() => (assign ? this.handleAssign(parts) : this.handleRevoke(parts)))
    this.rebalancing = p
    void p.finally(() => {
      if (this.rebalancing === p) this.rebalancing = undefined
    })
  }

  private async handleAssign(parts: TopicPartition[]): Promise<void> {
    if (!this.incremental) this.leftovers = []
    const have = new Set(this.assigned.map((tp) => tpKey(tp.topic, tp.partition)))
    const added = this.incremental ? parts.filter((tp) => !have.has(tpKey(tp.topic, tp.partition))) : parts
    if (added.length && !this.closing) await this.runOnAssign(added)
    // Assigned (here and in librdkafka) only once their state is ready.
    this.assigned = this.incremental ? [...this.assigned, ...added] : parts
    try {
      const withSeeks = added.map((tp) => {
        const k = tpKey(tp.topic, tp.partition)
        const o = this.pendingSeeks.get(k)
        this.pendingSeeks.delete(k)
        return o === undefined ? tp : { ...tp, offset: o }
      })
      if (this.incremental) {
        // Always answered, also with nothing: librdkafka waits for the call before acknowledging.
        this.extras.incrementalAssign(withSeeks)
        for (const tp of added) this.nativePaused.delete(tpKey(tp.topic, tp.partition))
      } else {
        this.native.assign(withSeeks)
        this.pendingSeeks.clear()
        // Paused partitions start soft-paused again (their leftovers were dropped with the rebalance).
        const wasNative = parts.filter((tp) => this.nativePaused.has(tpKey(tp.topic, tp.partition)))
        this.nativePaused.clear()
        if (wasNative.length) this.native.resume(wasNative)
      }
    } catch (e) {
      this.ctx.report(
        'error',
        `group '${this.options.groupId}': assign(${fmtTps(added)}) failed: ${String(e)}`,
      )
    }
    if (!this.closing) this.claim()
    this.firstAssignment?.()
  }

  /**
   * The listener prepares the partitions (the runtime reads committed offsets and recovers
   * tables); nothing of them is fetched before it returns, so a retriable failure (Kafka
   * briefly unreachable, just restarted) is retried rather than handing out partitions
   * whose state was never loaded.
   */
  private async runOnAssign(parts: TopicPartition[]): Promise<void> {
    const what = `group '${this.options.groupId}': onAssign(${fmtTps(parts)}) failed`
    await retryPromise(() => this.options.listener.onAssign(parts), {
      retry: (e) => retriable(asFailure(e)) && !this.closing,
      forMs: ON_ASSIGN_RETRY_FOR_MS,
      baseMs: 250,
      maxMs: 5_000,
      onRetry: (e, delay) =>
        this.ctx.report('warn', `${what}: ${String(e)}; retrying in ${Math.round(delay)}ms`),
    }).catch((e: unknown) => this.ctx.report('error', `${what}: ${String(e)}`))
  }

  private async handleRevoke(parts: TopicPartition[]): Promise<void> {
    this.revokeCallbacks++
    if (!this.incremental) this.leftovers = []
    const revoked = parts.length || this.incremental ? parts : this.assigned
    if (revoked.length && !this.closing) {
      try {
        await this.options.listener.onRevoke(revoked)
      } catch (e) {
        this.ctx.report(
          'error',
          `group '${this.options.groupId}': onRevoke(${fmtTps(revoked)}) failed: ${String(e)}`,
        )
      }
    }
    const gone = new Set(revoked.map((tp) => tpKey(tp.topic, tp.partition)))
    this.assigned = this.incremental
      ? this.assigned.filter((tp) => !gone.has(tpKey(tp.topic, tp.partition)))
      : []
    for (const k of gone) {
      this.nativePaused.delete(k)
      this.pendingSeeks.delete(k)
    }
    if (revoked.length && !this.closing) this.claim()
    try {
      if (this.incremental) this.extras.incrementalUnassign(revoked)
      else this.native.unassign()
    } catch (e) {
      if (!this.closing)
        this.ctx.report('error', `group '${this.options.groupId}': unassign failed: ${String(e)}`)
    }
  }

  // -- fetching --------------------------------------------------------------------

  /** One native consume; records that crossed a rebalance or a seek are dropped. */
  private pull(max: number): Promise<RecordBatch[]> {
    if (this.pullInFlight) return this.pullInFlight.then(() => [])
    const p = (async () => {
      const gen = this.rebalances
      this.seekedDuringPull = new Set()
      this.revokedDuringPull = new Set()
      let batches: RecordBatch[]
      try {
        batches = toBatches(await this.f.consumeNow(max))
      } catch (e) {
        throw this.ctx.error(`fetching for group '${this.options.groupId}'`, e)
      }
      // A rebalance callback queued during the call may not have run yet: let it.
      await tick()
      if (gen !== this.rebalances || (this.rebalancing && !this.incremental)) return []
      const mine = this.incremental
        ? new Set(this.assigned.map((tp) => tpKey(tp.topic, tp.partition)))
        : undefined
      const out: RecordBatch[] = []
      for (const b of batches) {
        const k = tpKey(b.topic, b.partition)
        if (this.seekedDuringPull.has(k) || this.revokedDuringPull.has(k)) continue
        if (mine && !mine.has(k)) continue
        if (this.paused.has(k)) this.leftovers.push(b)
        else out.push(b)
      }
      this.boundLeftovers()
      return out
    })()
    this.pullInFlight = p
    void p.then(
      () => (this.pullInFlight = undefined),
      () => (this.pullInFlight = undefined),
    )
    return p
  }

  /** Serves rebalance callbacks while the runtime is not fetching (before the fetch loop, under backpressure). */
  private runPump(): void {
    if (this.closed || this.fetching || this.pullInFlight) return
    if (Date.now() - this.lastFetch < 2 * PUMP_EVERY_MS) return
    const allPaused = this.assigned.every((tp) => this.paused.has(tpKey(tp.topic, tp.partition)))
    if (this.leftovers.length && !allPaused) return
    this.pull(1000).then(
      (b) => {
        this.leftovers.push(...b)
        this.boundLeftovers()
      },
      (e) => this.ctx.report('warn', e instanceof Error ? e.message : String(e)),
    )
  }

  /** Pauses in librdkafka the paused partitions once their held records pass the bound. */
  private boundLeftovers(): void {
    let held = 0
    for (const b of this.leftovers) if (this.paused.has(tpKey(b.topic, b.partition))) held += b.records.length
    if (held < SOFT_PAUSE_MAX_RECORDS) return
    const more = this.assigned.filter((tp) => {
      const k = tpKey(tp.topic, tp.partition)
      return this.paused.has(k) && !this.nativePaused.has(k)
    })
    const live = this.liveOnly(more)
    if (!live.length) return
    this.native.pause(live)
    for (const tp of live) this.nativePaused.add(tpKey(tp.topic, tp.partition))
  }

  async fetch(options: FetchOptions): Promise<RecordBatch[]> {
    if (!this.started) await this.start()
    this.fetching = true
    try {
      const deadline = Date.now() + options.maxWaitMs
      for (;;) {
        if (this.closed || this.closing) return []
        const ready = this.takeLeftovers(options.maxRecords)
        if (ready.length) return ready
        if (this.f.takeWoken()) return []
        const left = deadline - Date.now()
        // Eager: nothing flows while partitions are handed out. Incremental: the ones that stay do.
        const blocked = this.incremental ? undefined : this.rebalancing
        if (blocked || this.pullInFlight) {
          if (left <= 0) return []
          await this.f.waitFor((blocked ?? this.pullInFlight)!, left)
          continue
        }
        const got = await this.pull(options.maxRecords)
        if (got.length) return got
        if (this.f.takeWoken() || Date.now() >= deadline) return []
        await this.f.waitForData(deadline - Date.now())
      }
    } finally {
      this.fetching = false
      this.lastFetch = Date.now()
    }
  }

  private takeLeftovers(max: number): RecordBatch[] {
    if (!this.leftovers.length) return []
    const keep: RecordBatch[] = []
    const ready: RecordBatch[] = []
    for (const b of this.leftovers) (this.paused.has(tpKey(b.topic, b.partition)) ? keep : ready).push(b)
    const out = takeBatches(ready, max)
    this.leftovers = [...keep, ...ready]
    return out
  }

  pause(partitions: readonly TopicPartition[]): void {
    if (!partitions.length) return
    for (const tp of partitions) this.paused.add(tpKey(tp.topic, tp.partition))
    // Soft: fetched records of these partitions wait in leftovers (see SOFT_PAUSE_MAX_RECORDS).
    this.boundLeftovers()
  }

  resume(partitions: readonly TopicPartition[]): void {
    if (!partitions.length) return
    for (const tp of partitions) this.paused.delete(tpKey(tp.topic, tp.partition))
    const native = partitions.filter((tp) => this.nativePaused.delete(tpKey(tp.topic, tp.partition)))
    const live = this.liveOnly(native)
    if (live.length) this.native.resume(live)
    this.f.onQueueNonEmpty()
  }

  /** The given partitions that librdkafka currently has assigned (pause/seek on others would throw). */
  private liveOnly(partitions: readonly TopicPartition[]): TopicPartition[] {
    if ((this.rebalancing && !this.incremental) || !this.native.isConnected()) return []
    const mine = new Set(this.assigned.map((tp) => tpKey(tp.topic, tp.partition)))
    return partitions
      .filter((tp) => mine.has(tpKey(tp.topic, tp.partition)))
      .map((tp) => ({ topic: tp.topic, partition: tp.partition }))
  }

  /**
   * The offset of the next record fetch() will return for an assigned
   * partition, past transaction markers (see KafkaReader.position); undefined
   * before anything of it was fetched.
   */
  position(tp: TopicPartition): number | undefined {
    const k = tpKey(tp.topic, tp.partition)
    const left = this.leftovers.find((b) => tpKey(b.topic, b.partition) === k)
    if (left) return left.records[0]!.offset
    if (this.pullInFlight || !this.liveOnly([tp]).length) return undefined
    const [native] = this.native.position([{ topic: tp.topic, partition: tp.partition }])
    return native && native.offset >= 0 ? native.offset : undefined
  }

  seek(tpo: TopicPartitionOffset): void {
    const k = tpKey(tpo.topic, tpo.partition)
    this.leftovers = this.leftovers.filter((b) => tpKey(b.topic, b.partition) !== k)
    this.seekedDuringPull.add(k)
    if (!this.liveOnly([tpo]).length) {
      this.pendingSeeks.set(k, tpo.offset)
      return
    }
    this.native.seek({ topic: tpo.topic, partition: tpo.partition, offset: tpo.offset }, 0, (err) => {
      if (err)
        this.ctx.report('warn', `seek ${tpo.topic}[${tpo.partition}] to ${tpo.offset} failed: ${err.message}`)
    })
  }

  assignment(): readonly TopicPartition[] {
    return this.assigned
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (!offsets.length) return
    const tpos = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))
    await call((cb) => this.extras.commitCb(tpos, cb)).catch((e) => {
      throw this.ctx.error(`committing offsets ${fmtTps(offsets)} of group '${this.options.groupId}'`, e)
    })
  }

  async committed(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    if (!partitions.length) return []
    if (!this.started) await this.start()
    const tps = partitions.map((tp) => ({ topic: tp.topic, partition: tp.partition }))
    const what = `reading committed offsets ${fmtTps(partitions)} of group '${this.options.groupId}'`
    // Each try already waits up to COMMITTED_TIMEOUT_MS: the backoff between tries stays short.
    const res = await retryPromise(
      () => call<TopicPartitionOffset[]>((cb) => this.native.committed(tps, COMMITTED_TIMEOUT_MS, cb)),
      {
        retry: (e) => this.options.readCommitted === true && errorCode(e) === Code.TIMED_OUT && !this.closing,
        forMs: COMMITTED_UNSTABLE_FOR_MS,
        baseMs: 50,
        maxMs: 1_000,
        onRetry: () =>
          this.ctx.report(
            'warn',
            `${what}: no answer yet (a transaction of a member that died may still be open until the broker expires it); still waiting`,
          ),
      },
    ).catch((e: unknown) => {
      throw this.ctx.error(what, e)
    })
    return res
      .filter((r) => r.offset >= 0)
      .map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset }))
  }

  /** After a rebalance in progress (called from onAssign, it answers once this member's claim is written). */
  async members(): Promise<readonly GroupMember[]> {
    await this.rebalancing?.catch(() => {})
    return this.registry.members(this.options.groupId)
  }

  wakeup(): void {
    this.f.wakeup()
  }

  async close(): Promise<void> {
    this.owner.release(this)
    if (this.closing) return
    this.closing = true
    this.f.closed = true
    this.f.wakeup()
    if (this.pump) clearInterval(this.pump)
    await this.rebalancing?.catch(() => {})
    await this.pullInFlight?.catch(() => {})
    if (this.assigned.length) {
      await this.options.listener.onRevoke(this.assigned).catch((e: unknown) => {
        this.ctx.report('error', `group '${this.options.groupId}': onRevoke on close failed: ${String(e)}`)
      })
      this.assigned = []
    }
    if (this.started) await this.registry.leave(this.options.groupId, this.clientId).catch(() => {})
    if (this.native.isConnected()) {
      if (this.incremental && this.options.instanceId !== undefined) await this.leaveStatic()
      // librdkafka's close leaves the group (its final revoke only unassigns: we are closing).
      await call((cb) => this.native.disconnect(cb)).catch(() => {})
    }
    this.closed = true
  }

  /**
   * A static member leaving under the consumer protocol tells the broker it
   * comes back (member epoch -2), so its next process may take its id and its
   * partitions at once. librdkafka sends that heartbeat from close() without
   * waiting for it, and a process that exits right after loses it: the broker
   * then holds the id until the session timeout. So the leave is started here
   * (unsubscribe), its revoke served, and the client kept open for a moment
   * while the heartbeat goes out.
   */
  private async leaveStatic(): Promise<void> {
    const revokes = this.revokeCallbacks
    try {
      this.native.unsubscribe()
    } catch {
      return
    }
    // The unsubscribe's revoke comes through consume(); then the leave goes out. Consumes
    // (on the shared backoff, from 10 ms) until `until` holds or `ms` have passed.
    const serve = (until: () => boolean, ms: number) =>
      retryPromise(
        async () => {
          if (until()) return
          await this.f.consumeNow(100).catch(() => [])
          await this.rebalancing?.catch(() => {})
          throw NOT_YET
        },
        { retry: (e) => e === NOT_YET, forMs: ms, baseMs: 10, maxMs: 100 },
      ).catch(() => {})
    await serve(() => this.revokeCallbacks > revokes && !this.rebalancing, LEAVE_WAIT_MS)
    await serve(() => false, LEAVE_FLUSH_MS)
  }
}
