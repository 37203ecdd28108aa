/**
 * The worker: turns an AppDefinition into running agents, tables, timers and
 * cron jobs on the given ports. It owns the fetch loop (batches from the group
 * consumer into bounded source queues, pausing partitions whose queues are
 * full), the commit protocol (sends and changelog acknowledged → store
 * transaction → consumer offsets), recovery on assignment, and clean shutdown.
 */
import { randomUUID } from 'node:crypto'
import { Cron } from 'croner'
import type { AgentDef, AppDefinition, CronDef, TimerDef, TopicDef } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { AskTimeoutError, ConfigError, errorMessage, StoppedError } from '../definition/errors.ts'
import type {
  AgentHandle,
  Logger,
  ResolvedConfig,
  SendOptions,
  SentRecord,
  TopicHandle,
} from '../definition/types.ts'
import type {
  Broker,
  BrokerRecord,
  Clock,
  GroupConsumer,
  PartitionReader,
  ProduceRecord,
  RecordMetadata,
  Store,
  StoreChange,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
  TransactionalProducer,
} from '../ports/index.ts'
import { fmtTps, tpKey } from '../ports/topic-partitions.ts'
import { AgentRunner } from './agent.ts'
import type { Cursor, Item } from './internal/cursor.ts'
import { newCursor } from './internal/cursor.ts'
import { type Histogram, newHistogram } from './internal/histogram.ts'
import { Outbox } from './internal/outbox.ts'
import { SourceQueue } from './internal/source.ts'
import { type TableHost, TableRuntime } from './internal/tables.ts'
import { encodeHeaders, TopicRuntime } from './internal/topics.ts'

export const REPLY_TO = 'stream-app.reply-to'
export const CORRELATION_ID = 'stream-app.correlation-id'
const QUEUE_CAPACITY = 10_000
const FETCH_MAX_RECORDS = 5_000
const FETCH_WAIT_MS = 250
const STOP_TIMEOUT_MS = 15_000
const DEFAULT_ASK_TIMEOUT_MS = 30_000
/** How long the state of newly assigned partitions may fail to load (retriably) before the worker gives up. */
const ASSIGN_GIVE_UP_MS = 90_000

export { type Histogram, LATENCY_BOUNDS, newHistogram, observe } from './internal/histogram.ts'

export interface WebServerHandle {
  readonly url: string
  close(): Promise<void>
}

export interface WorkerDeps {
  readonly broker: Broker
  readonly store: Store
  readonly clock: Clock
  readonly log: Logger & { child(name: string): Logger }
  readonly config: ResolvedConfig
  /** Starts the web server for a ready worker. */
  readonly web?: (worker: WorkerRuntime) => Promise<WebServerHandle>
  /** Closed on stop (the worker opened them). */
  readonly closeBroker: boolean
  /**
   * A client (CLI commands, `send`): no group membership, no agents, timers or
   * web; tables are recovered read-only for all partitions; sends and asks work.
   */
  readonly client?: boolean
}

export type WorkerState = 'starting' | 'recovering' | 'running' | 'stopping' | 'stopped'

/** Counters the web server's /metrics reads. */
export interface WorkerStats {
  /** records fetched per topic */
  readonly messagesIn: Map<string, number>
  /** Messages each agent's handler took from its streams. */
  readonly consumed: Map<string, number>
  /** Values each agent's handler yielded (to its sinks, answering asks). */
  readonly yielded: Map<string, number>
  /** time from a value reaching the handler to the handler asking for the next, per agent */
  readonly latency: Map<string, Histogram>
  readonly commits: { count: number; totalMs: number; lastMs: number; failures: number }
  readonly recoveries: { count: number; records: number; ms: number }
  /** The recovery in progress, if any (for /health and /metrics). */
  recovering: RecoveryProgress | undefined
}

/** Where a table recovery is: rows read from the store, then changelog records replayed. */
export interface RecoveryProgress {
  readonly table: string
  readonly partitions: readonly number[]
  phase: 'store' | 'changelog'
  /** Rows loaded from the local store so far. */
  storeRows: number
  /** Changelog records replayed so far, of how many. */
  changelogDone: number
  changelogTotal: number
  readonly startedAt: number
}

export class WorkerRuntime {
  readonly topics = new Map<string, TopicRuntime>()
  readonly tables = new Map<string, TableRuntime>()
  readonly agents = new Map<string, AgentRunner>()
  state: WorkerState = 'starting'
  url: string | undefined
  readonly stats: WorkerStats
  readonly log: Logger & { child(name: string): Logger }
  readonly clock: Clock
  readonly broker: Broker
  readonly store: Store
  readonly outbox: Outbox
  readonly replyTopic: string
  readonly leaderTopic: string
  private ctxCache: Record<string, unknown> | undefined
  readonly topicHandles: Record<string, TopicHandle<unknown, unknown>> = {}
  readonly agentHandles: Record<string, AgentHandle<unknown, unknown, unknown>> = {}

  private consumer: GroupConsumer = nullConsumer
  private readonly queuesByTopic = new Map<string, SourceQueue[]>()
  private readonly dynamic = new Map<string, Promise<SourceQueue>>()
  private readonly subscribed = new Set<string>()
  private readonly positions = new Map<string, number>()
  private readonly lastCommitted = new Map<string, number>()
  private readonly pausedTopics = new Set<string>()
  /** What the group gave this worker (kept here: consumers differ on when assignment() changes). */
  private readonly assigned = new Map<string, TopicPartition>()
  /** Changelog topics of tables bound at run time, being created (a commit waits for them). */
  private readonly creatingTopics = new Set<Promise<void>>()
  /** What every table needs from the worker. */
  private readonly tableHost: TableHost
  private readonly pendingAsks = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; cancel: () => void }
  >()
  private readonly cancels: (() => void)[] = []
  private replyReader: PartitionReader | undefined
  private fetchLoop: Promise<void> | undefined
  private replyLoop: Promise<void> | undefined
  private committing: Promise<void> | undefined
  private commitAgain = false
  private settleAgain = false
  /** exactly-once: holds back deliveries while a commit waits for handlers to finish their message. */
  private gate: Promise<void> | undefined
  private asksInFlight = 0
  private web: WebServerHandle | undefined
  private maxSourcePartitions = 1
  private txProducer: TransactionalProducer | undefined
  private readonly changelogs = new Set<string>()
  private readonly timerRuns = new Set<Promise<unknown>>()
  private assignFailingSince: number | undefined
  /** An assignment whose state failed to load while starting (start() rejects with it). */
  private startFailure: unknown
  /** start() finished: failures from here on are the worker's to handle (before, start() rejects). */
  private started = false
  /** Set when the worker stopped itself: its state could not be loaded (see `done`). */
  fatal: Error | undefined
  private resolveDone!: () => void
  /** Resolves once the worker has stopped, by stop() or by itself after a fatal error. */
  readonly done = new Promise<void>((r) => {
    this.resolveDone = r
  })

  constructor(
    readonly def: AppDefinition,
    readonly deps: WorkerDeps,
  ) {
    const agents = this.agents
    this.stats = {
      messagesIn: new Map(),
      get consumed() {
        return new Map([...agents].map(([name, a]) => [name, a.consumed] as const))
      },
      get yielded() {
        return new Map([...agents].map(([name, a]) => [name, a.yielded] as const))
      },
      latency: new Map(),
      commits: { count: 0, totalMs: 0, lastMs: 0, failures: 0 },
      recoveries: { count: 0, records: 0, ms: 0 },
      recovering: undefined,
    }
    this.log = deps.log
    this.clock = deps.clock
    this.broker = deps.broker
    this.store = deps.store
    this.tableHost = {
      topicPartitions: (topic) => this.topics.get(topic)?.partitions,
      defaultPartitions: deps.config.topicPartitions,
      log: deps.log,
      bound: (t) => this.onTableBound(t),
    }
    this.replyTopic = `${def.config.id}-__replies`
    this.leaderTopic = `${def.config.id}-__leader`
    this.outbox = new Outbox(deps.broker.producer(), (e) =>
      this.log.error(`send failed: ${errorMessage(e)}`, {
        retriable: (e as { retriable?: boolean }).retriable === true,
      }),
    )
  }

  /** The ctx of timers, cron jobs, routes and commands (no current event). */
  get baseCtx(): Record<string, unknown> {
    if (this.ctxCache) return this.ctxCache
    const ctx = this.makeContext(newCursor())
    // Before start() has built the tables a ctx would lack them: only cache a complete one.
    if (this.state !== 'starting') this.ctxCache = ctx
    return ctx
  }

  /** Not stopping or stopped. */
  get active(): boolean {
    return this.state !== 'stopping' && this.state !== 'stopped'
  }

  get config(): ResolvedConfig {
    return this.deps.config
  }
  get id(): string {
    return this.def.config.id
  }

  // -- start -------------------------------------------------------------------

  async start(): Promise<void> {
    const { def, config } = this
    // Partition counts: declared, else what the broker already has, else the default.
    const specs: TopicSpec[] = []
    for (const t of Object.values(def.topics)) {
      const existing = t.partitions === undefined ? await this.broker.partitions(t.name) : undefined
      const rt = new TopicRuntime(t, t.partitions ?? existing ?? config.topicPartitions)
      this.topics.set(t.name, rt)
      specs.push(rt.spec)
      if (t.onInvalid === 'dead-letter')
        specs.push({ name: `${t.name}.dead-letter`, partitions: rt.partitions })
    }
    const sources = new Set(Object.values(def.agents).flatMap((a) => a.from))
    for (const s of sources)
      this.maxSourcePartitions = Math.max(this.maxSourcePartitions, this.topics.get(s)!.partitions)
    // A table is partitioned like the topics its agents consume. When they all have one count that
    // is it; when they differ, an existing changelog says, else the first write binds the table.
    const counts = new Set([...sources].map((s) => this.topics.get(s)!.partitions))
    const common =
      sources.size === 0 ? config.topicPartitions : counts.size === 1 ? [...counts][0] : undefined
    for (const t of Object.values(def.tables)) {
      const changelog = `${this.id}-${t.name}-changelog`
      const partitions = t.partitions ?? common ?? (await this.broker.partitions(changelog))
      // Stored under the changelog's name (<app>-<table>-changelog): unique even in a store shared by apps.
      const rt = new TableRuntime(
        t,
        this.id,
        partitions,
        this.store.table(changelog),
        this.clock,
        this.tableHost,
      )
      this.tables.set(t.name, rt)
      this.changelogs.add(rt.changelog)
      if (partitions !== undefined) specs.push(this.changelogSpec(rt))
      else
        this.log.info(
          `table '${t.name}': partitioned like the topic of the agent that writes it first (the source topics differ: ${[
            ...sources,
          ]
            .map((s) => `${s} ${this.topics.get(s)!.partitions}`)
            .join(', ')})`,
        )
    }
    specs.push({ name: this.replyTopic, partitions: 1, retentionMs: 3_600_000 })
    specs.push({ name: this.leaderTopic, partitions: 1 })
    await this.broker.ensureTopics(specs)
    if (config.guarantee === 'exactly_once' && !this.broker.url.startsWith('memory://')) {
      if (!this.broker.atomic && !this.broker.transactionalProducer)
        throw new ConfigError(`guarantee 'exactly_once' is not supported by the broker ${this.broker.url}`)
      this.outbox.holding = true
      // Someone awaits a held send (a user send, an ask): commit soon rather than at the next interval.
      let soon = false
      this.outbox.onHeldAwait = () => {
        if (soon) return
        soon = true
        setImmediate(() => {
          soon = false
          if (this.state === 'running') this.commit().catch(() => {})
        })
      }
    }

    for (const a of Object.values(def.agents)) {
      const topics = new Map(a.from.map((f) => [f, this.topics.get(f)!] as const))
      const q = new SourceQueue(a.name, topics, QUEUE_CAPACITY, this.onInvalid)
      for (const f of a.from) this.addQueue(f, q)
      this.agents.set(a.name, new AgentRunner(a, q, this.agentServices(a)))
    }
    for (const t of this.topics.values()) this.topicHandles[t.name] = this.makeTopicHandle(t)
    for (const a of Object.values(def.agents)) this.agentHandles[a.name] = this.makeAgentHandle(a)

    this.state = 'recovering'
    if (this.deps.client) {
      // A CLI command reads every partition of every table and writes none: the workers own them.
      this.consumer = nullConsumer
      for (const t of this.tables.values()) {
        t.readOnly = true
        if (t.partitions === undefined) continue
        const all = Array.from({ length: t.partitions }, (_, i) => i)
        await this.recover(t, all)
        t.owned = new Set(all)
      }
      await this.startReplies()
      this.state = 'running'
      return
    }
    // The web server answers (503 on /health) while the worker joins the group and recovers,
    // and its URL goes into the group metadata so other workers can route table queries here.
    if (this.deps.web && config.web.enabled) {
      this.web = await this.deps.web(this)
      this.url = this.web.url
      this.log.info(`web server listening on ${this.url} (503 on /health until ready)`)
    }
    for (const s of [...sources, this.leaderTopic]) this.subscribed.add(s)
    this.consumer = this.broker.groupConsumer({
      groupId: this.id,
      topics: [...this.subscribed],
      listener: { onAssign: (tps) => this.onAssign(tps), onRevoke: (tps) => this.onRevoke(tps) },
      memberMetadata: JSON.stringify({ url: this.url ?? null }),
      readCommitted: config.guarantee === 'exactly_once',
    })
    await this.consumer.start()
    if (this.startFailure !== undefined) throw this.startFailure
    await this.startReplies()
    for (const a of this.agents.values()) a.start()
    this.fetchLoop = this.runFetchLoop()
    this.scheduleCommits()
    for (const t of Object.values(def.timers)) this.scheduleTimer(t)
    for (const c of Object.values(def.crons)) this.scheduleCron(c)
    for (const t of this.tables.values()) this.scheduleExpiry(t)
    this.state = 'running'
    this.started = true
    this.banner()
  }

  private changelogSpec(t: TableRuntime): TopicSpec {
    const w = t.def.window
    return {
      name: t.changelog,
      partitions: t.partitions!,
      compacted: true,
      ...(w?.expiresMs !== undefined
        ? {
            retentionMs: w.expiresMs + w.sizeMs + 86_400_000,
            config: { 'cleanup.policy': 'compact,delete' },
          }
        : {}),
    }
  }

  /** A table bound at run time: its changelog is created (a commit waits for that) and its partitions owned. */
  private onTableBound(t: TableRuntime): void {
    if (this.deps.client) t.owned = new Set(Array.from({ length: t.partitions! }, (_, i) => i))
    else t.owned = this.ownedOf(t)
    const p = this.broker.ensureTopics([this.changelogSpec(t)]).catch((e) => {
      this.log.error(`creating the changelog of table '${t.name}' failed: ${errorMessage(e)}`)
      throw e
    })
    this.creatingTopics.add(p)
    void p.then(
      () => this.creatingTopics.delete(p),
      () => {},
    )
  }

  /**
   * The partitions of a table this worker holds: partition p is held by the
   * worker assigned partition p of the source topics with the table's
   * partition count (every broker assigns equal partitions of such topics to one
   * member). A table like no source topic is held whole by the leader.
   */
  private ownedOf(t: TableRuntime): Set<number> {
    const n = t.partitions
    const out = new Set<number>()
    if (n === undefined) return out
    const drivers = [...this.subscribed].filter(
      (s) => s !== this.leaderTopic && this.topics.get(s)?.partitions === n,
    )
    if (drivers.length === 0) {
      if (this.assigned.has(tpKey(this.leaderTopic, 0))) for (let p = 0; p < n; p++) out.add(p)
      return out
    }
    for (const tp of this.assigned.values()) if (drivers.includes(tp.topic)) out.add(tp.partition)
    return out
  }

  private banner(): void {
    const { def, config } = this
    const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-')
    this.log.info(`stream-app worker '${this.id}' ready`, {
      broker: this.broker.description,
      store: this.store.description,
      web: this.url ?? 'off',
      guarantee: config.guarantee,
    })
    this.log.info(
      `topics: ${list([...this.topics.values()].map((t) => `${t.name}(${t.partitions})`))}; agents: ${list(Object.keys(def.agents))}; tables: ${list(Object.keys(def.tables))}; timers: ${list([...Object.keys(def.timers), ...Object.keys(def.crons)])}`,
    )
  }

  private addQueue(topic: string, q: SourceQueue): void {
    const list = this.queuesByTopic.get(topic)
    if (list) list.push(q)
    else this.queuesByTopic.set(topic, [q])
  }

  // -- rebalance -----------------------------------------------------------------

  private async onAssign(tps: readonly TopicPartition[]): Promise<void> {
    try {
      await this.prepareAssigned(tps)
      this.assignFailingSince = undefined
      this.startFailure = undefined
    } catch (e) {
      // While starting, start() fails with it: not every consumer (Kafka's) fails its start
      // when the listener does, and none of it may be processed with tables that did not load.
      if (!this.started) {
        this.startFailure = e
        throw e
      }
      // Never process partitions whose tables did not load. A broker that is briefly away is
      // retried by the consumer; anything else, or a failure that lasts, stops the worker.
      const since = (this.assignFailingSince ??= Date.now())
      const retriable = (e as { retriable?: unknown }).retriable === true
      if (this.active && (!retriable || Date.now() - since > ASSIGN_GIVE_UP_MS))
        this.crash(`loading the state of ${fmtTps(tps)} failed: ${errorMessage(e)}`)
      throw e
    }
  }

  /** Stops the worker from the inside; `fatal` says why and `done` resolves when it has stopped. */
  private crash(reason: string): void {
    if (this.fatal) return
    this.fatal = new Error(reason)
    this.log.error(`${reason}; stopping the worker`)
    // stop() marks the worker stopping at once (nothing more is fetched) and must not be
    // awaited here: it closes the consumer, which waits for the rebalance this runs in.
    void this.stop().catch((e) => this.log.error(`stop failed: ${errorMessage(e)}`))
  }

  private async prepareAssigned(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) this.assigned.set(tpKey(tp.topic, tp.partition), tp)
    const committed = await this.consumer.committed(tps)
    const have = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c.offset]))
    const missing = tps.filter((tp) => !have.has(tpKey(tp.topic, tp.partition)))
    for (const b of missing.length ? await this.broker.beginningOffsets(missing) : [])
      have.set(tpKey(b.topic, b.partition), b.offset)
    for (const [k, o] of have) {
      this.positions.set(k, o)
      this.lastCommitted.set(k, o)
    }
    const prev = this.state
    for (const t of this.tables.values()) {
      // Another worker may have bound (and written) a table this one has not: its changelog says.
      if (t.partitions === undefined) {
        const n = await this.broker.partitions(t.changelog)
        if (n === undefined) continue
        t.bind(n, `its changelog has ${n}`)
      }
      const next = this.ownedOf(t)
      const added = [...next].filter((p) => !t.owned.has(p))
      if (added.length) {
        if (prev === 'running') this.state = 'recovering'
        await this.recover(t, added)
      }
      t.owned = next
    }
    if (prev === 'running' && this.active) this.state = 'running'
    this.log.info('partitions assigned', { partitions: fmtTps(tps) })
    this.refreshMembers()
  }

  private async onRevoke(tps: readonly TopicPartition[]): Promise<void> {
    // Hand out nothing more of the revoked partitions (their next owner reads it from the committed
    // offsets), let handlers inside a record of them finish it, and commit that: this worker was its
    // last owner. A record still in a handler after the revoke would write its table changes to a
    // changelog partition another worker already owns.
    for (const list of this.queuesByTopic.values()) for (const q of list) q.dropBuffered(tps)
    if (this.state === 'running' || this.state === 'recovering') await this.commit(true).catch(() => {})
    for (const list of this.queuesByTopic.values()) for (const q of list) q.drop(tps)
    for (const tp of tps) {
      const k = tpKey(tp.topic, tp.partition)
      this.positions.delete(k)
      this.lastCommitted.delete(k)
      this.assigned.delete(k)
    }
    if (this.state === 'stopping' || this.state === 'stopped') return
    for (const t of this.tables.values()) {
      const next = this.ownedOf(t)
      const gone = [...t.owned].filter((p) => !next.has(p))
      t.owned = next
      if (gone.length) t.dropPartitions(gone)
    }
    this.log.info('partitions revoked', { partitions: fmtTps(tps) })
    this.refreshMembers()
  }

  /** Rows loaded from the store per page; recovery hands the event loop back between pages. */
  private static readonly RECOVERY_PAGE = 2_000
  /** Work done between two turns of the event loop while recovering, so /health keeps answering. */
  private static readonly RECOVERY_SLICE_MS = 10

  /** Rebuilds table partitions: rows from the store, then the changelog beyond the store's offset. */
  private async recover(t: TableRuntime, mine: readonly number[]): Promise<void> {
    const started = performance.now()
    const progress: RecoveryProgress = {
      table: t.name,
      partitions: mine,
      phase: 'store',
      storeRows: 0,
      changelogDone: 0,
      changelogTotal: 0,
      startedAt: Date.now(),
    }
    this.stats.recovering = progress
    let slice = performance.now()
    const breathe = async () => {
      if (performance.now() - slice < WorkerRuntime.RECOVERY_SLICE_MS) return
      await new Promise((r) => setImmediate(r))
      slice = performance.now()
    }
    let done = 0
    try {
      for (const p of mine) {
        for (const page of t.store.scan(p, WorkerRuntime.RECOVERY_PAGE)) {
          for (let i = 0; i < page.length; i++) {
            const row = page[i]!
            t.loadRow(row.key, row.value, row.partition)
            if ((i & 255) === 255) {
              progress.storeRows += 256
              await breathe()
            }
          }
          progress.storeRows += page.length & 255
          if (this.state === 'stopping') return
        }
      }
      const persisted = t.store.persistedOffsets(mine)
      const tps = mine.map((p) => ({ topic: t.changelog, partition: p }))
      const ends = await this.broker.endOffsets(tps)
      const starts = await this.broker.beginningOffsets(tps)
      const todo: TopicPartitionOffset[] = []
      let expected = 0
      for (const e of ends) {
        const from = Math.max(
          persisted.get(e.partition) ?? 0,
          starts.find((s) => s.partition === e.partition)?.offset ?? 0,
        )
        if (from < e.offset) {
          todo.push({ topic: t.changelog, partition: e.partition, offset: from })
          expected += e.offset - from
        }
      }
      if (!todo.length) return
      progress.phase = 'changelog'
      progress.changelogTotal = expected
      this.log.info(`recovering table '${t.name}'`, { partitions: mine.join(','), records: expected })
      // Under exactly-once the changelog holds aborted writes (a worker killed inside a transaction).
      const reader = this.broker.reader(
        todo,
        this.config.guarantee === 'exactly_once' ? { readCommitted: true } : {},
      )
      const target = new Map(ends.map((e) => [e.partition, e.offset]))
      const reached = new Map<number, number>(todo.map((x) => [x.partition, x.offset]))
      let lastReport = performance.now()
      try {
        while ([...reached].some(([p, o]) => o < target.get(p)!)) {
          const batches = await reader.fetch({ maxRecords: WorkerRuntime.RECOVERY_PAGE, maxWaitMs: 500 })
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
            this.store.transaction(() => t.store.apply(changes, offsets))
          }
          const now = performance.now()
          if (now - lastReport > 1000) {
            const rate = done / ((now - started) / 1000)
            this.log.info(`recovering table '${t.name}'`, {
              done,
              of: expected,
              rate: `${Math.round(rate)}/s`,
              eta: `${Math.max(0, Math.round((expected - done) / Math.max(rate, 1)))}s`,
            })
            lastReport = now
          }
          await breathe()
          if (this.state === 'stopping') break
        }
      } finally {
        await reader.close()
      }
    } finally {
      const ms = Math.round(performance.now() - started)
      this.stats.recovering = undefined
      this.stats.recoveries.count++
      this.stats.recoveries.records += done
      this.stats.recoveries.ms += ms
      if (done) this.log.info('recovery finished', { table: t.name, records: done, ms })
    }
  }

  // -- routing table queries ---------------------------------------------------

  private members: readonly { url: string; assignment: readonly TopicPartition[] }[] = []

  /** Learns which worker (web URL) holds which partitions, from the group's membership. */
  private refreshMembers(): void {
    // Membership settles just after a rebalance; ask again shortly so late joiners are seen.
    const load = () =>
      this.consumer
        .members()
        .then((members) => {
          const out: { url: string; assignment: readonly TopicPartition[] }[] = []
          for (const m of members) {
            let url: string | undefined
            try {
              url = (JSON.parse(m.metadata) as { url?: string | null }).url ?? undefined
            } catch {
              url = undefined
            }
            if (url) out.push({ url, assignment: m.assignment })
          }
          this.members = out
        })
        .catch((e) => this.log.debug(`group members unavailable: ${errorMessage(e)}`))
    void load()
    const t = setTimeout(() => void load(), 1000)
    t.unref()
  }

  /**
   * Where a table key lives: `{ local: true }` when this worker holds it (or
   * no worker does yet), else the web URL of the worker that holds its
   * partition, or `{ url: undefined }` while that is not known (a rebalance).
   */
  async ownerOf(
    table: string,
    key: unknown,
  ): Promise<{ local: true } | { local: false; url: string | undefined }> {
    const t = this.tables.get(table)
    if (!t || this.deps.client) return { local: true }
    if (t.partitions === undefined) {
      // Unbound here: bound elsewhere if its changelog exists, else nothing is stored anywhere.
      const n = await this.broker.partitions(t.changelog)
      if (n === undefined) return { local: true }
      t.bind(n, `its changelog has ${n}`)
    }
    const partition = t.keyPartition(t.baseKey(key))
    if (t.owned.has(partition)) return { local: true }
    const drivers = new Set(
      [...this.subscribed].filter(
        (s) => s !== this.leaderTopic && this.topics.get(s)?.partitions === t.partitions,
      ),
    )
    for (const m of this.members) {
      for (const tp of m.assignment) {
        const holds = drivers.size
          ? drivers.has(tp.topic) && tp.partition === partition
          : tp.topic === this.leaderTopic
        if (holds && m.url !== this.url) return { local: false, url: m.url }
      }
    }
    return { local: false, url: undefined }
  }

  /** The web URL of the worker that holds a table key, or undefined when it is this one (or unknown). */
  async ownerUrl(table: string, key: unknown): Promise<string | undefined> {
    const o = await this.ownerOf(table, key)
    return o.local ? undefined : o.url
  }

  // -- fetch loop ----------------------------------------------------------------

  private async runFetchLoop(): Promise<void> {
    let failures = 0
    while (this.state === 'running' || this.state === 'recovering') {
      try {
        const waitFor = this.applyBackpressure()
        if (waitFor) {
          await waitFor
          continue
        }
        const batches = await this.consumer.fetch({ maxRecords: FETCH_MAX_RECORDS, maxWaitMs: FETCH_WAIT_MS })
        failures = 0
        for (const b of batches) {
          const n = b.records.length
          if (n === 0) continue
          this.positions.set(tpKey(b.topic, b.partition), b.records[n - 1]!.offset + 1)
          this.stats.messagesIn.set(b.topic, (this.stats.messagesIn.get(b.topic) ?? 0) + n)
          const queues = this.queuesByTopic.get(b.topic)
          if (queues) for (const q of queues) q.push(b)
        }
      } catch (e) {
        if (this.state !== 'running' && this.state !== 'recovering') break
        failures++
        const delay = Math.min(10_000, 100 * 2 ** Math.min(failures, 7))
        this.log.error(`fetch failed: ${errorMessage(e)}; retrying in ${delay}ms`)
        await new Promise((r) => setTimeout(r, delay))
      }
    }
  }

  /** Pauses topics whose queues are full; returns a promise to wait on when everything is paused. */
  private applyBackpressure(): Promise<void> | undefined {
    const full = new Set<SourceQueue>()
    const pause = new Set<string>()
    for (const [topic, queues] of this.queuesByTopic) {
      for (const q of queues) {
        if (q.full) {
          full.add(q)
          pause.add(topic)
        }
      }
    }
    const assignment = this.consumer.assignment()
    const toPause = [...pause].filter((t) => !this.pausedTopics.has(t))
    const toResume = [...this.pausedTopics].filter((t) => !pause.has(t))
    if (toPause.length) {
      this.consumer.pause(assignment.filter((tp) => toPause.includes(tp.topic)))
      for (const t of toPause) this.pausedTopics.add(t)
    }
    if (toResume.length) {
      this.consumer.resume(assignment.filter((tp) => toResume.includes(tp.topic)))
      for (const t of toResume) this.pausedTopics.delete(t)
    }
    const active = [...this.subscribed].some((t) => !this.pausedTopics.has(t) && t !== this.leaderTopic)
    if (!active && full.size) return Promise.race([...full].map((q) => q.drained()))
    return undefined
  }

  // -- invalid messages ------------------------------------------------------------

  private onInvalid = (topic: TopicRuntime, rec: BrokerRecord, reason: string, agent: string): boolean => {
    const mode = topic.def.onInvalid
    const where = { topic: rec.topic, partition: rec.partition, offset: rec.offset, agent, reason }
    if (mode === 'fail') return false
    if (mode === 'dead-letter') {
      const dlq = `${topic.name}.dead-letter`
      const dlqPartitions = this.topics.get(dlq)?.partitions ?? topic.partitions
      this.outbox.push({
        topic: dlq,
        partition: rec.partition % dlqPartitions,
        key: rec.key,
        value: rec.value,
        timestamp: rec.timestamp,
        headers: {
          ...rec.headers,
          'stream-app.error': Buffer.from(reason),
          'stream-app.error-topic': Buffer.from(rec.topic),
          'stream-app.error-partition': Buffer.from(String(rec.partition)),
          'stream-app.error-offset': Buffer.from(String(rec.offset)),
          'stream-app.error-agent': Buffer.from(agent),
        },
      })
      this.log.warn('invalid message sent to dead-letter topic', { ...where, to: dlq })
      return true
    }
    this.log.warn('invalid message skipped', where)
    return true
  }

  // -- agents ----------------------------------------------------------------------

  private agentServices(def: AgentDef) {
    return {
      appId: this.id,
      clock: this.clock,
      log: this.log.child(def.name),
      topic: (name: string) => this.topics.get(name),
      subscribe: (agent: string, t: TopicDef) => this.subscribeDynamic(agent, t),
      forward: (topic: string, key: unknown, value: unknown, from: Item) => {
        const rt = this.topics.get(topic)!
        this.outbox.push(rt.record(value, key, from.rec.timestamp, from.rec.headers))
      },
      emit: (agent: AgentDef, value: unknown, cursor: Cursor) => this.emit(agent, value, cursor),
      makeContext: (cursor: Cursor) => this.makeContext(cursor),
      onRestart: () => {},
      latency: this.latencyOf(def.name),
      // The exactly-once commit gate, else backpressure from the producer.
      gate: () => this.gate ?? this.outbox.pressure(),
    }
  }

  private latencyOf(agent: string): Histogram {
    let h = this.stats.latency.get(agent)
    if (!h) this.stats.latency.set(agent, (h = newHistogram()))
    return h
  }

  private subscribeDynamic(agent: string, def: TopicDef): Promise<SourceQueue> {
    const k = `${agent}\u0000${def.name}`
    let p = this.dynamic.get(k)
    if (!p) {
      p = (async () => {
        let rt = this.topics.get(def.name)
        if (!rt) {
          const existing = def.partitions === undefined ? await this.broker.partitions(def.name) : undefined
          rt = new TopicRuntime(def, def.partitions ?? existing ?? this.maxSourcePartitions)
          this.topics.set(def.name, rt)
        }
        await this.broker.ensureTopics([rt.spec])
        const q = new SourceQueue(agent, new Map([[def.name, rt]]), QUEUE_CAPACITY, this.onInvalid)
        this.addQueue(def.name, q)
        if (!this.subscribed.has(def.name)) {
          this.subscribed.add(def.name)
          await this.consumer.subscribe([...this.subscribed])
        }
        return q
      })()
      this.dynamic.set(k, p)
    }
    return p
  }

  private readonly sinkCache = new Map<AgentDef, TopicRuntime[]>()

  private sinksOf(agent: AgentDef): TopicRuntime[] {
    let sinks = this.sinkCache.get(agent)
    if (!sinks) this.sinkCache.set(agent, (sinks = agent.sink.map((s) => this.topics.get(s)!)))
    return sinks
  }

  private keyTopic: string | undefined
  private keyTopicSchema: unknown

  /**
   * The event's key bytes, when the sink would encode its key to exactly those:
   * both topics share one String key schema, whose text round-trips. Saves a
   * schema encode and a buffer per forwarded record (a passthrough's keys).
   */
  private sameKeyBytes(item: Item, sink: TopicRuntime): Uint8Array | undefined {
    const rec = item.rec
    if (rec.key === null || !sink.stringKeys) return undefined
    if (rec.topic !== this.keyTopic) {
      this.keyTopic = rec.topic
      this.keyTopicSchema = this.topics.get(rec.topic)?.def.keySchema
    }
    return this.keyTopicSchema === sink.def.keySchema ? rec.key : undefined
  }

  private emit(agent: AgentDef, value: unknown, cursor: Cursor): void {
    const item = cursor.current
    const ts = item ? item.rec.timestamp : this.clock.now()
    const sinks = this.sinksOf(agent)
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i]!
      // The sink keeps the event's key when its key schema accepts it, else the record is unkeyed.
      const keyBytes = item === undefined ? undefined : this.sameKeyBytes(item, sink)
      const key = keyBytes === undefined ? item?.key : undefined
      this.outbox.push(sink.record(value, key, ts, undefined, undefined, true, keyBytes))
    }
    if (item && !item.replied) {
      const replyTo = item.rec.headers[REPLY_TO]
      const corr = item.rec.headers[CORRELATION_ID]
      if (replyTo && corr) {
        item.replied = true
        const text = JSON.stringify({ value })
        this.outbox.push({
          topic: Buffer.from(replyTo).toString('utf8'),
          partition: 0,
          key: corr,
          value: Buffer.from(text ?? '{}'),
          timestamp: this.clock.now(),
        })
      }
    }
  }

  private async startReplies(): Promise<void> {
    const [end] = await this.broker.endOffsets([{ topic: this.replyTopic, partition: 0 }])
    this.replyReader = this.broker.reader([{ topic: this.replyTopic, partition: 0, offset: end!.offset }])
    const reader = this.replyReader
    this.replyLoop = (async () => {
      while (this.active) {
        let batches: Awaited<ReturnType<PartitionReader['fetch']>>
        try {
          batches = await reader.fetch({ maxRecords: 1000, maxWaitMs: FETCH_WAIT_MS })
        } catch (e) {
          if (this.state === 'stopping' || this.state === 'stopped') break
          this.log.warn(`reading replies failed: ${errorMessage(e)}`)
          await new Promise((r) => setTimeout(r, 500))
          continue
        }
        for (const b of batches) {
          for (const r of b.records) {
            if (!r.key) continue
            const id = Buffer.from(r.key).toString('utf8')
            const pending = this.pendingAsks.get(id)
            if (!pending) continue
            this.pendingAsks.delete(id)
            pending.cancel()
            try {
              pending.resolve(
                (JSON.parse(Buffer.from(r.value ?? []).toString('utf8')) as { value: unknown }).value,
              )
            } catch (e) {
              pending.reject(e)
            }
          }
        }
      }
    })()
  }

  // -- handles and ctx ---------------------------------------------------------------

  private ensureRunning(what: string): void {
    if (this.state === 'stopping' || this.state === 'stopped')
      throw new StoppedError(`${what}: the worker is stopped`)
  }

  private makeTopicHandle(t: TopicRuntime): TopicHandle<unknown, unknown> {
    return {
      name: t.name,
      send: async (value: unknown, o: SendOptions<unknown> = {}): Promise<SentRecord> => {
        this.ensureRunning(`send to '${t.name}'`)
        const rec = t.record(
          value,
          o.key,
          o.timestamp ?? this.clock.now(),
          encodeHeaders(o.headers),
          o.partition,
        )
        const meta = await this.outbox.pushAwait(rec)
        return {
          topic: meta.topic,
          partition: meta.partition,
          offset: meta.offset,
          timestamp: meta.timestamp,
        }
      },
    }
  }

  private makeAgentHandle(a: AgentDef): AgentHandle<unknown, unknown, unknown> {
    const topic = this.topics.get(a.from[0]!)!
    const own = topic.def.ownedBy === a.name
    const send = async (value: unknown, o: { key?: unknown; headers?: Record<string, Uint8Array> } = {}) => {
      this.ensureRunning(`send to agent '${a.name}'`)
      if (!own && a.from.length > 1)
        throw new ConfigError(
          `agent '${a.name}' consumes several topics; send to one of them with ctx.topics`,
        )
      const rec = topic.record(value, o.key, this.clock.now(), o.headers)
      if (this.outbox.holding) {
        this.outbox.push(rec)
        this.outbox.onHeldAwait()
        return { topic: rec.topic, partition: rec.partition, offset: -1, timestamp: rec.timestamp }
      }
      const meta = await this.outbox.pushAwait(rec)
      return { topic: meta.topic, partition: meta.partition, offset: meta.offset, timestamp: meta.timestamp }
    }
    return {
      name: a.name,
      send: (value, o) => send(value, o ?? {}),
      ask: (value, o = {}) => {
        const id = randomUUID()
        const timeoutMs = toMillis(
          (o.timeout ?? DEFAULT_ASK_TIMEOUT_MS) as Duration,
          `ask '${a.name}' timeout`,
        )
        return new Promise((resolve, reject) => {
          const cancel = this.clock.schedule(this.clock.now() + timeoutMs, () => {
            const p = this.pendingAsks.get(id)
            if (p && this.pendingAsks.delete(id))
              p.reject(new AskTimeoutError(`ask to agent '${a.name}' got no reply within ${timeoutMs}ms`))
          })
          this.asksInFlight++
          const done = () => {
            this.asksInFlight--
          }
          this.pendingAsks.set(id, {
            resolve: (v) => {
              done()
              resolve(v)
            },
            reject: (e) => {
              done()
              reject(e)
            },
            cancel,
          })
          send(value, {
            ...(o.key !== undefined ? { key: o.key } : {}),
            headers: { [REPLY_TO]: Buffer.from(this.replyTopic), [CORRELATION_ID]: Buffer.from(id) },
          }).catch((e) => {
            const p = this.pendingAsks.get(id)
            this.pendingAsks.delete(id)
            cancel()
            p?.reject(e)
          })
        })
      },
    }
  }

  makeContext(cursor: Cursor): Record<string, unknown> {
    // Plain data properties (a view is two fields): `ctx.tables.x` in a handler is a field load per message.
    const tables: Record<string, unknown> = {}
    for (const [name, t] of this.tables) tables[name] = t.view(cursor)
    return Object.freeze({
      tables: Object.freeze(tables),
      topics: this.topicHandles,
      agents: this.agentHandles,
      log: this.log,
      app: Object.freeze({ id: this.id, config: this.config }),
    })
  }

  // -- commits -----------------------------------------------------------------------

  private scheduleCommits(): void {
    const every = this.config.commitIntervalMs
    const next = () => this.clock.now() + every
    this.repeat(next(), next, () => this.commit().catch(() => {}))
  }

  /**
   * Runs `body` at `first` and then at `next(due)`, on the worker's clock, until
   * the worker stops. A beat that comes while the worker recovers (a rebalance)
   * is skipped, not the schedule. `next` answering undefined ends it.
   */
  private repeat(
    first: number | undefined,
    next: (due: number) => number | undefined,
    body: () => unknown,
  ): void {
    let cancel: () => void = () => {}
    const arm = (due: number | undefined) => {
      if (due === undefined) return
      cancel = this.clock.schedule(due, async () => {
        if (!this.active) return
        if (this.state === 'running') await body()
        if (this.active) arm(next(due))
      })
    }
    arm(first)
    this.cancels.push(() => cancel())
  }

  /**
   * Commits what is processed: sends and changelog acknowledged → store transaction → offsets.
   * `settle` (a revoke) first lets every handler finish the record it is inside, in every mode.
   */
  commit(settle = false): Promise<void> {
    if (this.committing) {
      this.commitAgain = true
      if (settle) this.settleAgain = true
      return this.committing
    }
    const run = async (): Promise<void> => {
      let s = settle
      do {
        this.commitAgain = false
        this.settleAgain = false
        await this.commitOnce(s)
        s = this.settleAgain
      } while (this.commitAgain)
    }
    this.committing = run().finally(() => {
      this.committing = undefined
    })
    return this.committing
  }

  /**
   * exactly-once: a commit must not cut a message in half (its table changes and
   * sends in, its offset out). Hand out no new record, and wait until no handler
   * is inside a message — a handler waiting on an ask() counts as outside, since
   * the reply can only come after this commit.
   */
  private async quiesce(): Promise<() => void> {
    let release!: () => void
    this.gate = new Promise<void>((r) => {
      release = r
    })
    const deadline = Date.now() + 30_000
    for (;;) {
      let busy = 0
      for (const a of this.agents.values()) busy += a.busyCount
      // A handler awaiting a held send (exactly-once) waits for this very commit: count it outside too.
      if (busy <= this.asksInFlight + this.outbox.heldAwaited) break
      if (Date.now() > deadline) {
        this.log.warn('exactly-once commit: a handler has been inside one message for 30s; committing anyway')
        break
      }
      await new Promise((r) => setTimeout(r, 1))
    }
    return () => {
      this.gate = undefined
      release()
    }
  }

  private async commitOnce(settle: boolean): Promise<void> {
    const open =
      (this.outbox.holding && this.state === 'running') || settle ? await this.quiesce() : undefined
    try {
      await this.commitUnit()
    } finally {
      open?.()
    }
  }

  private async commitUnit(): Promise<void> {
    const started = performance.now()
    try {
      // Changelogs of tables bound since the last commit must exist before anything is written to them.
      if (this.creatingTopics.size) await Promise.all([...this.creatingTopics])
      // Snapshot first: everything processed up to here has already queued its sends and table changes.
      const offsets = this.committableOffsets()
      const now = this.clock.now()
      const drained = [...this.tables.values()].map((t) => ({ t, ...t.drain(now) }))
      const changelog = drained.flatMap((d) => d.records)
      const applyStore = (meta: readonly RecordMetadata[]) => {
        if (!drained.some((d) => d.changes.length)) return
        const perTable = new Map<string, Map<number, number>>()
        for (const m of meta) {
          if (!this.changelogs.has(m.topic)) continue
          let o = perTable.get(m.topic)
          if (!o) perTable.set(m.topic, (o = new Map()))
          o.set(m.partition, Math.max(o.get(m.partition) ?? 0, m.offset + 1))
        }
        this.store.transaction(() => {
          for (const d of drained)
            if (d.changes.length) d.t.store.apply(d.changes, perTable.get(d.t.changelog) ?? new Map())
        })
      }
      if (this.outbox.holding) await this.commitTransaction(offsets, changelog, applyStore)
      else {
        try {
          await this.outbox.flush()
          applyStore(changelog.length ? await this.outbox.transmit(changelog) : [])
        } catch (e) {
          // A send that cannot succeed (retriable ones are retried inside the outbox): what this
          // commit covered may not be in the log, so go back to the last commit and process again.
          await this.rewind()
          throw e
        }
        if (offsets.length) await this.consumer.commit(offsets)
      }
      for (const o of offsets) this.lastCommitted.set(tpKey(o.topic, o.partition), o.offset)
      const ms = performance.now() - started
      this.stats.commits.count++
      this.stats.commits.totalMs += ms
      this.stats.commits.lastMs = ms
    } catch (e) {
      this.stats.commits.failures++
      this.log.error(`commit failed: ${errorMessage(e)}`)
      throw e
    }
  }

  /**
   * exactly-once: sink sends, changelog writes and consumed offsets in one
   * transaction. On sqlite:// that is one local database transaction that also
   * holds the table rows; on Kafka a producer transaction, with the local store
   * written after it commits (recovery replays the changelog from the store's offset).
   */
  private async commitTransaction(
    offsets: TopicPartitionOffset[],
    changelog: ProduceRecord[],
    applyStore: (meta: readonly RecordMetadata[]) => void,
  ): Promise<void> {
    const held = this.outbox.takeHeld()
    const records = [...held.records, ...changelog]
    if (!records.length && !offsets.length) return
    const atomic = this.broker.atomic
    try {
      if (atomic) {
        const meta = atomic.run((tx) => {
          const meta = records.length ? tx.append(records) : []
          applyStore(meta)
          if (offsets.length) tx.commitOffsets(this.id, offsets)
          return meta
        })
        held.settle(meta)
        return
      }
      const txp = (this.txProducer ??= this.broker.transactionalProducer!(`${this.id}-${randomUUID()}`))
      try {
        await txp.begin()
        const meta = records.length ? await txp.send(records) : []
        if (offsets.length) await txp.sendOffsets(this.consumer, offsets)
        await txp.commit()
        held.settle(meta)
        applyStore(meta)
      } catch (e) {
        const aborted = await txp.abort().then(
          () => true,
          () => false,
        )
        // A producer that cannot abort (fenced, fatal) is replaced by a new one for the next commit.
        if (!aborted || (e as { retriable?: unknown }).retriable !== true) {
          if (this.txProducer === txp) this.txProducer = undefined
          void txp.close().catch(() => {})
        }
        throw e
      }
    } catch (e) {
      held.fail(e)
      // What this commit covered is not in the log: rewind to the last commit and rebuild.
      await this.rewind()
      throw e
    }
  }

  /**
   * After a failed exactly-once commit the in-memory state is ahead of what is
   * committed: forget buffered records, seek back to the committed offsets and
   * rebuild the tables of our partitions from the store and the changelog.
   */
  private async rewind(): Promise<void> {
    const assignment = this.consumer.assignment()
    for (const list of this.queuesByTopic.values()) for (const q of list) q.drop(assignment)
    for (const tp of assignment) {
      const o = this.lastCommitted.get(tpKey(tp.topic, tp.partition))
      if (o !== undefined) {
        this.consumer.seek({ ...tp, offset: o })
        this.positions.set(tpKey(tp.topic, tp.partition), o)
      }
    }
    for (const t of this.tables.values()) {
      const owned = [...t.owned]
      t.discardDirty()
      t.dropPartitions(owned)
      await this.recover(t, owned)
    }
    this.log.warn('rewound to the last commit after a failed transaction', { partitions: fmtTps(assignment) })
  }

  private committableOffsets(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = []
    for (const tp of this.consumer.assignment()) {
      const k = tpKey(tp.topic, tp.partition)
      const queues = this.queuesByTopic.get(tp.topic)
      if (!queues?.length) continue
      let min = Number.POSITIVE_INFINITY
      for (const q of queues) {
        const t = q.trackers.get(k)
        const c = t?.committable ?? -1
        // A queue that has not processed anything of this partition holds the commit back,
        // unless it has nothing pending (no tracker, nothing buffered for it).
        if (c < 0) {
          min = -1
          break
        }
        min = Math.min(min, c)
      }
      if (min >= 0 && min > (this.lastCommitted.get(k) ?? -1))
        out.push({ topic: tp.topic, partition: tp.partition, offset: min })
    }
    return out
  }

  // -- timers, cron, expiry ------------------------------------------------------------

  isLeader(): boolean {
    return this.consumer.assignment().some((tp) => tp.topic === this.leaderTopic && tp.partition === 0)
  }

  private runGuarded(kind: string, name: string, fn: () => unknown): Promise<void> {
    const p = (async () => {
      try {
        await fn()
      } catch (e) {
        this.log.error(`${kind} '${name}' failed: ${errorMessage(e)}`)
      }
    })()
    this.timerRuns.add(p)
    void p.finally(() => this.timerRuns.delete(p))
    return p
  }

  private scheduleTimer(t: TimerDef): void {
    // A run slower than the interval skips the missed beats instead of firing twice.
    const next = (due: number) => {
      const now = this.clock.now()
      const n = due + t.everyMs
      return n > now ? n : due + Math.ceil((now - due + 1) / t.everyMs) * t.everyMs
    }
    this.repeat(this.clock.now() + t.everyMs, next, async () => {
      if (!t.onLeader || this.isLeader()) await this.runGuarded('timer', t.name, () => t.fn(this.baseCtx))
    })
  }

  private scheduleCron(c: CronDef): void {
    const cron = new Cron(c.schedule, { paused: true, ...(c.timezone ? { timezone: c.timezone } : {}) })
    const after = (from: number) => cron.nextRun(new Date(from))?.getTime()
    this.repeat(
      after(this.clock.now()),
      (due) => after(Math.max(due, this.clock.now())),
      () => this.runGuarded('cron job', c.name, () => c.fn(this.baseCtx)),
    )
    this.cancels.push(() => cron.stop())
  }

  private scheduleExpiry(t: TableRuntime): void {
    const expires = t.def.window?.expiresMs
    if (expires === undefined) return
    const every = Math.max(1000, Math.min(expires, 30_000))
    const next = () => this.clock.now() + every
    this.repeat(next(), next, () => {
      const n = t.expire()
      if (n) this.log.debug(`table '${t.name}': ${n} expired windows dropped`)
    })
  }

  /** Consumer lag per assigned partition: end offset minus the next offset to process. */
  async lag(): Promise<{ topic: string; partition: number; position: number; end: number; lag: number }[]> {
    const assignment = this.consumer.assignment().filter((tp) => this.queuesByTopic.has(tp.topic))
    if (!assignment.length) return []
    const ends = await this.broker.endOffsets(assignment)
    return ends.map((e) => {
      const position = this.lastCommitted.get(tpKey(e.topic, e.partition)) ?? 0
      return {
        topic: e.topic,
        partition: e.partition,
        position,
        end: e.offset,
        lag: Math.max(0, e.offset - position),
      }
    })
  }

  // -- idle and stop -----------------------------------------------------------------

  private async caughtUp(): Promise<boolean> {
    const assignment = this.consumer.assignment().filter((tp) => this.queuesByTopic.has(tp.topic))
    if (!assignment.length) return true
    const ends = await this.broker.endOffsets(assignment)
    return ends.every((e) => {
      const fetched = this.positions.get(tpKey(e.topic, e.partition)) ?? 0
      return Math.max(fetched, this.consumer.position?.(e) ?? 0) >= e.offset
    })
  }

  private busy(): boolean {
    if (this.outbox.held > 0) {
      // exactly-once: records become visible only when committed
      if (this.state === 'running') this.commit().catch(() => {})
      return true
    }
    if (this.outbox.pending > 0) {
      // Someone waits for it all to land: written records need not wait for the producer's own sync.
      this.outbox.sync()
      return true
    }
    if (this.timerRuns.size > 0) return true
    for (const a of this.agents.values()) {
      if (!a.quiet) return true
      if (a.consuming && a.buffered > 0) return true
    }
    return false
  }

  async idle(options: { timeout?: Duration } = {}): Promise<void> {
    const timeoutMs = toMillis(options.timeout ?? '30s', 'idle timeout')
    const deadline = Date.now() + timeoutMs
    let stable = 0
    while (stable < 2) {
      if (this.state === 'stopped') return
      const quiet = !this.busy() && (await this.caughtUp()) && !this.busy()
      stable = quiet ? stable + 1 : 0
      if (Date.now() > deadline) throw new Error(`idle(): still busy after ${timeoutMs}ms`)
      // Quiet: one more turn of the event loop to be sure; busy: give the work a moment.
      await new Promise((r) => (quiet ? setImmediate(r) : setTimeout(r, 1)))
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return
    this.state = 'stopping'
    for (const c of this.cancels) c()
    if (this.web)
      await this.web.close().catch((e) => this.log.warn(`web server close failed: ${errorMessage(e)}`))
    try {
      this.consumer.wakeup()
      await this.fetchLoop
      await Promise.all([...this.agents.values()].map((a) => a.stop(STOP_TIMEOUT_MS)))
      await Promise.allSettled([...this.timerRuns])
      await this.commit().catch(() => {})
      this.outbox.closed = true
      this.replyReader?.wakeup()
      await this.replyReader?.close().catch(() => {})
      await this.replyLoop
    } finally {
      // Whatever failed above (a start that failed half way), the clients and files are closed.
      await this.consumer.close().catch(() => {})
      await this.txProducer?.close().catch(() => {})
      for (const [, p] of this.pendingAsks) {
        p.cancel()
        p.reject(new StoppedError('ask: the worker stopped before a reply came'))
      }
      this.pendingAsks.clear()
      try {
        this.store.close()
      } finally {
        if (this.deps.closeBroker) await this.broker.close().catch(() => {})
        this.state = 'stopped'
        // A start that failed says so itself (one line from the CLI).
        if (this.started) this.log.info(`worker '${this.id}' stopped`)
        this.resolveDone()
      }
    }
  }

  /**
   * Decodes records of a topic for inspection (sent(), the CLI). A topic the app
   * does not declare (a dead-letter topic, a changelog) holds raw bytes: they
   * come back as Buffers, never parsed.
   */
  decode(topic: string, rec: BrokerRecord) {
    const t = this.topics.get(topic)
    const parse = (fn: () => unknown, raw: () => unknown) => {
      try {
        return fn()
      } catch {
        return raw()
      }
    }
    const bytes = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b))
    return {
      key: t
        ? parse(
            () => t.keySerde.decode(rec.key),
            () => t.keySerde.parse(rec.key),
          )
        : bytes(rec.key),
      value: t
        ? parse(
            () => t.valueSerde.decode(rec.value),
            () =>
              parse(
                () => t.valueSerde.parse(rec.value),
                () => bytes(rec.value),
              ),
          )
        : bytes(rec.value),
      topic,
      partition: rec.partition,
      offset: rec.offset,
      timestamp: rec.timestamp,
      headers: Object.fromEntries(
        Object.entries(rec.headers).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]),
      ),
    }
  }
}

/** The consumer of a client worker: member of no group. */
const nullConsumer: GroupConsumer = {
  start: async () => {},
  subscribe: async () => {},
  fetch: async () => [],
  pause: () => {},
  resume: () => {},
  seek: () => {},
  assignment: () => [],
  commit: async () => {},
  committed: async () => [],
  members: async () => [],
  wakeup: () => {},
  close: async () => {},
}
