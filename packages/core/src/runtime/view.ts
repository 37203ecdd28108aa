/**
 * The running worker: what app.start() and app.test() wrap in the Worker
 * facade, what the web server reads (as a WorkerView), and what tests drive.
 * Core exports it only as the WorkerRuntime interface (worker-runtime.ts);
 * its parts stay here. It holds no logic of its own: each call goes to the
 * module that owns the state.
 */
import type { AppDefinition } from '../definition/definition.ts'
import type { Duration } from '../definition/duration.ts'
import { StoppedError, WorkerFailedError } from '../definition/errors.ts'
import type { AgentHandle, Logger, ResolvedConfig, TopicHandle, WindowedTable } from '../definition/types.ts'
import type { Broker, BrokerReachability, BrokerRecord, TopicReplication } from '../ports/index.ts'
import type { WorkerInspection } from '../ports/inspect.ts'
import type { Sensor, WorkerState } from '../ports/sensor.ts'
import type { KeyOwner, Readiness, RecordJson, RecordQuery, TableQuery } from '../ports/view.ts'
import type { Assignment } from './assignment.ts'
import type { Committer } from './commit.ts'
import type { Contexts } from './context.ts'
import { decodeRecord, idle } from './inspect.ts'
import { makeInspection } from './inspection.ts'
import type { Activity } from './internal/activity.ts'
import { newCursor } from './internal/cursor.ts'
import type { AgentRunner } from './internal/instance.ts'
import type { Outbox } from './internal/outbox.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'
import { internalTopicNames, membersTopicName } from './internal-topics.ts'
import type { Members } from './members.ts'
import { type GroupWatch, readiness } from './readiness.ts'
import { readRecords } from './records.ts'
import type { Runs } from './schedule.ts'
import type { WorkerSensor } from './sensor.ts'
import type { WorkerRuntime } from './worker-runtime.ts'
import { type ConsumerSlot, isStopping, type WorkerStatus } from './worker-state.ts'

/** The parts a worker is made of, each owning its state. */
export interface WorkerParts {
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly agents: ReadonlyMap<string, AgentRunner>
  readonly contexts: Contexts
  readonly committer: Committer
  readonly sensor: WorkerSensor
  readonly members: Members
  readonly assignment: Assignment
  readonly outbox: Outbox
  readonly runs: Runs
  readonly activity: Activity
  readonly consumer: ConsumerSlot
  /** When the group last changed (a client worker joins none). */
  readonly group: GroupWatch | undefined
}

export class RunningWorker implements WorkerRuntime, WorkerStatus {
  /** Written here only (tests aside): parts read it through WorkerStatus. */
  state: WorkerState = 'starting'
  url: string | undefined
  /** Set when the worker stopped itself (its state could not be loaded); `done` then resolves. */
  fatal: WorkerFailedError | undefined
  /** The start finished (a failed start says so itself, one line from the CLI). */
  started = false
  /** Set when the worker runs on Effect's TestClock (app.test()): moves its time. */
  testClock: { now(): number; advance(ms: number): Promise<void> } | undefined
  readonly id: string
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger & { child(name: string): Logger }
  readonly broker: Broker
  /** This worker's stable identity (worker-id.ts), if it has one. */
  readonly workerId: string | undefined
  /** Resolves once the worker has stopped, by stop() or by itself after a fatal error. */
  readonly done: Promise<void>
  private resolveDone!: () => void
  private stopping: Promise<void> | undefined
  private parts: WorkerParts | undefined
  private base: Record<string, unknown> | undefined
  private readonly close: () => Promise<void>

  constructor(o: {
    def: AppDefinition
    config: ResolvedConfig
    log: Logger & { child(name: string): Logger }
    broker: Broker
    workerId: string | undefined
    close: () => Promise<void>
  }) {
    this.workerId = o.workerId
    this.def = o.def
    this.id = o.def.config.id
    this.config = o.config
    this.log = o.log
    this.broker = o.broker
    this.close = o.close
    this.done = new Promise((r) => {
      this.resolveDone = r
    })
  }

  attach(parts: WorkerParts): void {
    this.parts = parts
  }

  /** Tables are being recovered (while starting, or a rebalance brought partitions), or that is over. */
  recovering(on: boolean): void {
    this.state = on ? 'recovering' : 'running'
  }

  /** The start finished: running, and failures from here on are the worker's to handle. */
  ready(): void {
    this.state = 'running'
    this.started = true
  }

  /** Throws when the worker is stopping: what a user's call on a stopped worker gets. */
  readonly ensureRunning = (what: string): void => {
    if (isStopping(this)) throw new StoppedError(`${what}: the worker is stopped`)
  }

  /** What other workers forward table queries to: canonicalUrl when set (behind NAT, a proxy, Kubernetes). */
  get advertisedUrl(): string | undefined {
    return this.config.canonicalUrl ?? this.url
  }

  private get p(): WorkerParts {
    if (!this.parts) throw new StoppedError('the worker has not started yet')
    return this.parts
  }

  readonly inspect: WorkerInspection = makeInspection(() => this.parts)

  // The parts themselves, for core's own code and tests: not on the exported WorkerRuntime.
  get topics(): ReadonlyMap<string, TopicRuntime> {
    return this.p.topics
  }
  get tables(): ReadonlyMap<string, TableRuntime> {
    return this.p.tables
  }
  get agents(): ReadonlyMap<string, AgentRunner> {
    return this.p.agents
  }

  get topicHandles(): Record<string, TopicHandle<unknown, unknown>> {
    return this.p.contexts.topicHandles
  }
  get agentHandles(): Record<string, AgentHandle<unknown, unknown, unknown>> {
    return this.p.contexts.agentHandles
  }
  get sensor(): Sensor & WorkerSensor {
    return this.p.sensor
  }

  /** The ctx of timers, cron jobs, routes and commands (no current event). */
  get ctx(): Record<string, unknown> {
    return (this.base ??= this.p.contexts.make(newCursor()))
  }

  readiness(): Readiness {
    const p = this.parts
    return readiness({
      state: this.state,
      group: p?.group,
      partitions: p?.assignment.sourcePartitions() ?? [],
      recovery: p?.sensor.recovering,
    })
  }

  internalTopics(): readonly string[] {
    const names = new Set(internalTopicNames(this.def))
    for (const t of this.parts?.topics.values() ?? []) if (t.def.repartition) names.add(t.name)
    // Only a broker that reports replication is Kafka, where the group keeps a member registry.
    if (this.broker.replication) names.add(membersTopicName(this.def))
    return [...names]
  }

  async brokerReachability(): Promise<BrokerReachability> {
    return this.broker.reachability ? this.broker.reachability() : { reachable: true }
  }

  async replication(topics: readonly string[]): Promise<readonly TopicReplication[]> {
    if (this.broker.replication) return this.broker.replication(topics)
    // memory:// and sqlite:// keep one copy of each topic: replication 1, in-sync not applicable.
    const rows: TopicReplication[] = []
    for (const name of topics) {
      const partitions = await this.broker.partitions(name)
      if (partitions !== undefined)
        rows.push({ name, partitions, replicationFactor: 1, inSyncReplicas: null })
    }
    return rows
  }

  records(query: RecordQuery & { readonly limit: number }): Promise<readonly RecordJson[]> {
    return readRecords(this.broker, this.def, query, this.parts?.topics)
  }

  table(name: string): TableQuery | undefined {
    const t = this.parts?.tables.get(name)
    if (!t) return undefined
    const view = this.ctx.tables as Record<string, unknown>
    return {
      name,
      keySchema: t.def.keySchema,
      windowed: t.kind.windowed,
      get: (key) => t.kind.answer(view[name], key),
      windows: (key) => (view[name] as WindowedTable<unknown, unknown>).windows(key),
      encodeValue: (v) => t.kind.answerText(v),
    }
  }

  async ownerOf(table: string, key: unknown): Promise<KeyOwner> {
    const t = this.parts?.tables.get(table)
    if (!t || t.readOnly) return { local: true }
    return this.p.members.ownerOf(t, key)
  }

  /** The web URL of the worker that holds a table key, or undefined when it is this one (or unknown). */
  async ownerUrl(table: string, key: unknown): Promise<string | undefined> {
    const o = await this.ownerOf(table, key)
    return o.local ? undefined : o.url
  }

  isLeader(): boolean {
    return this.p.assignment.isLeader()
  }

  /** Commits now: sink sends, table changes, offsets. */
  commit(): Promise<void> {
    return this.p.committer.commit()
  }

  /** Resolves when everything sent so far has been processed. */
  idle(options: { timeout?: Duration; backoffIsQuiet?: boolean } = {}): Promise<void> {
    const p = this.p
    return idle(
      {
        broker: this.broker,
        consumer: () => p.consumer.current,
        assignment: p.assignment,
        agents: p.agents,
        outbox: p.outbox,
        runs: p.runs,
        activity: p.activity,
        stopped: () => this.state === 'stopped',
        failure: () => this.fatal,
        commitSoon: () => {
          if (this.state === 'running') p.committer.commit().catch(() => {})
        },
        ...(options.backoffIsQuiet ? { backoffIsQuiet: true } : {}),
      },
      options,
    )
  }

  /** Commits and shuts down: closes the worker's scope. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopping'
      try {
        await this.close()
      } finally {
        this.state = 'stopped'
        if (this.started) this.log.info(`worker '${this.id}' stopped`)
        this.resolveDone()
      }
    })()
    return this.stopping
  }

  /** Stops the worker from the inside; `fatal` says why and `done` resolves when it has stopped. */
  crash(reason: string): void {
    if (this.fatal) return
    this.fatal = new WorkerFailedError(reason)
    this.log.error(`${reason}; stopping the worker`)
    // Not awaited here: stopping closes the consumer, which waits for the rebalance this runs in.
    void this.stop().catch((e) => this.log.error(`stop failed: ${String(e)}`))
  }

  banner(): void {
    const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-')
    this.log.info(`stream-app worker '${this.id}' ready`, {
      broker: this.broker.description,
      store: this.config.store,
      web: this.url ?? 'off',
      guarantee: this.config.guarantee,
      ...(this.workerId !== undefined ? { worker: this.workerId } : {}),
    })
    this.log.info(
      `topics: ${list([...this.p.topics.values()].map((t) => `${t.name}(${t.partitions})`))}; agents: ${list(Object.keys(this.def.agents))}; tables: ${list(Object.keys(this.def.tables))}; timers: ${list([...Object.keys(this.def.timers), ...Object.keys(this.def.crons)])}`,
    )
  }

  /** Decodes records of a topic for inspection (sent(), the CLI). */
  decode(topic: string, rec: BrokerRecord): RecordJson {
    return decodeRecord(this.parts?.topics.get(topic), topic, rec)
  }
}
