/**
 * The untyped definition an App is a facade over: plain frozen records that the
 * runtime, the CLI and the web server read. The builder validates everything at
 * definition time, so these records are always well-formed.
 */
import type { AnySchema, CodecName } from './codec.ts'
import type { HookDef, OnErrorFn, ServiceDef, TaskDef } from './lifecycle.ts'
import type { ProductionConfig } from './production.ts'
import type { WindowSpec } from './windows.ts'

export type OnInvalid = 'skip' | 'dead-letter' | 'fail'
export type Guarantee = 'at_least_once' | 'exactly_once'
/** 'crash': a crash stops the worker (Faust's CrashingSupervisor). */
export type SupervisorStrategy = 'one_for_one' | 'one_for_all' | 'crash'
export type Partitioner = 'murmur2' | 'crc32'

/** An in-process, typed, bounded queue (never on the broker, not durable). */
export interface ChannelDef {
  readonly name: string
  readonly keySchema: AnySchema
  readonly valueSchema: AnySchema
  /** Values it buffers per reading agent before send() waits (default: the app's streamBufferMaxsize). */
  readonly maxsize: number | undefined
  readonly describe?: string
}

export interface WebConfig {
  readonly enabled?: boolean
  readonly port?: number
  readonly host?: string
  readonly cors?: boolean | { readonly origin: string | readonly string[] }
  /**
   * Largest request body accepted, in bytes or as `'512kb'`, `'1mb'` (default 1 MiB);
   * a larger one is answered 413 without being read to its end.
   */
  readonly bodyLimit?: number | string
  /**
   * A bearer token the built-in data endpoints (/tables, /agents, /topics, /lag and
   * everything under them) and requests forwarded between workers require
   * (`Authorization: Bearer <token>`; env STREAM_APP_WEB_TOKEN wins over this).
   */
  readonly token?: string
  /** With a token: /metrics requires it too (default false: open, for scrapers). */
  readonly protectMetrics?: boolean
  /**
   * Serve GET /topics/:topic/records (anyone who reaches the port reads every topic):
   * default on for a loopback address, off for any other.
   */
  readonly records?: boolean
}

export interface AppConfig extends ProductionConfig {
  readonly id: string
  readonly broker?: string
  readonly store?: string
  readonly datadir?: string
  readonly web?: WebConfig
  readonly topicPartitions?: number
  readonly guarantee?: Guarantee
  readonly commitInterval?: number | string
  readonly brokerOptions?: Readonly<Record<string, unknown>>
  /**
   * Standby copies of each table partition kept by this many other workers, by
   * tailing the changelog, so a failover resumes from them instead of from zero
   * (default 0).
   */
  readonly standbyReplicas?: number
  /**
   * Replication of every topic the app creates for itself (changelogs, repartition
   * topics, replies, leader, dead letters, group members): default the cluster's own
   * default (Kafka's default.replication.factor), capped by its broker count.
   */
  readonly replicationFactor?: number
  /** Log level of the worker: 'debug' | 'info' | 'warn' | 'error' (default info). */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /**
   * OpenTelemetry spans (consume → handler → produce, the trace context carried
   * in record headers and table-routed HTTP requests) and metrics, through the
   * tracer and meter providers the app registers (default: off).
   */
  readonly telemetry?: TelemetryConfig
  /**
   * This worker's stable identity (CLI `--worker-id`, env STREAM_APP_WORKER_ID;
   * default: kept in the datadir, the same across restarts). On Kafka it is the
   * worker's static group membership: one per replica, e.g. a StatefulSet ordinal.
   */
  readonly workerId?: string
  /** Time zone of cron jobs that name none (default 'UTC'). */
  readonly timezone?: string
}

export interface TelemetryConfig {
  readonly enabled?: boolean
}

export interface TopicDef {
  readonly name: string
  readonly keySchema: AnySchema
  readonly valueSchema: AnySchema
  readonly codec: CodecName
  /** undefined: the app's topicPartitions */
  readonly partitions: number | undefined
  readonly replicas: number | undefined
  readonly retentionMs: number | undefined
  readonly compacted: boolean
  readonly config: Readonly<Record<string, string>>
  readonly onInvalid: OnInvalid
  /** Declared by an agent without `from` (its own topic). */
  readonly ownedBy: string | undefined
  /** What the topic is for (the CLI lists and the live page show it). */
  readonly describe?: string
  /**
   * How keyed records of other producers pick partitions: 'murmur2' (Java's
   * default, what stream-app sends with) or 'crc32' (librdkafka's default,
   * consistent_random): stream-app's own sends and key routing follow it.
   */
  readonly partitioner?: Partitioner
  /**
   * An internal repartition topic (groupBy): a record goes to the partition of its
   * key's text, as a table hashes that key, so the stream and a table keyed the
   * same way are co-partitioned.
   */
  readonly repartition?: boolean
}

export type AgentHandler = (stream: unknown, ctx: unknown) => AsyncIterable<unknown> | Promise<void> | void

export interface AgentDef {
  readonly name: string
  readonly from: readonly string[]
  readonly sink: readonly string[]
  readonly concurrency: number
  readonly supervisor: SupervisorStrategy
  readonly handler: AgentHandler
  readonly onError?: OnErrorFn
  /** What the agent does (the CLI lists and the live page show it). */
  readonly describe?: string
  /** The channel it reads instead of topics (`from` is then empty). */
  readonly channel?: string
}

export interface TableDef {
  readonly name: string
  /** Every worker holds every partition (reads any key; writes only keys of its own partitions). */
  readonly global?: boolean
  readonly default: (() => unknown) | undefined
  readonly keySchema: AnySchema
  readonly valueSchema: AnySchema
  readonly partitions: number | undefined
  readonly window: WindowSpec | undefined
  /** A set table (Faust's SetTable): each key holds a set of members; valueSchema is the members'. */
  readonly set?: boolean
  /** A table derived from two others, key for key (tableJoin): kept current by the runtime. */
  readonly join?: TableJoinDef
  /** Windowed with grace: what happens to an event for closed windows only (default 'skip', logged). */
  readonly onLate?: 'skip' | 'dead-letter' | ((event: LateEvent) => void)
  /** Windowed with grace: where each closed window's final value goes, once (a topic, or a callback). */
  readonly final?: string | ((key: unknown, window: { start: number; end: number; value: unknown }) => void)
  /** What the table holds (the CLI lists and the live page show it). */
  readonly describe?: string
  /** 'key' (default): a row lives in its key's partition; 'event': in the partition of the event that wrote it. */
  readonly partitioning?: 'key' | 'event'
}

export interface TableJoinDef {
  readonly left: string
  readonly right: string
  /** inner: a row only where both have the key; left: wherever the left table has it. */
  readonly type: 'inner' | 'left'
  readonly fn: (left: unknown, right: unknown, key: unknown) => unknown
}

/** An event that came after every window it falls in had closed (stream time beyond end + grace). */
export interface LateEvent {
  readonly key: unknown
  readonly timestamp: number
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** The stream time of the table's partition when it came. */
  readonly streamTime: number
}

export interface TimerDef {
  readonly name: string
  readonly everyMs: number
  readonly onLeader: boolean
  readonly fn: (ctx: unknown) => unknown
  readonly onError?: OnErrorFn
}

export interface CronDef {
  readonly name: string
  readonly schedule: string
  readonly timezone: string | undefined
  readonly fn: (ctx: unknown) => unknown
  /** Runs on one worker of the group only (the leader, as timers with onLeader). */
  readonly onLeader?: boolean
  readonly onError?: OnErrorFn
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'

export interface RouteDef {
  readonly method: HttpMethod
  readonly path: string
  /** A route that answers for a table key: it runs on the worker holding the key (others forward it). */
  readonly table: { readonly name: string; readonly key: (c: unknown) => unknown } | undefined
  readonly handler: (c: unknown, ctx: unknown) => unknown
}

export interface CommandOptionDef {
  readonly type: 'string' | 'number' | 'boolean' | 'array'
  readonly default?: unknown
  readonly describe?: string
  readonly demandOption?: boolean
  readonly alias?: string | readonly string[]
  readonly choices?: readonly (string | number)[]
}

/** A positional argument of a command, in declaration order after the app file. */
export interface CommandArgDef {
  readonly type: 'string' | 'number' | 'boolean'
  readonly describe?: string
  /** An optional argument (it may be left out; later ones then are too). */
  readonly optional?: boolean
  readonly default?: unknown
  readonly choices?: readonly (string | number)[]
}

export interface CommandDef {
  readonly name: string
  readonly describe: string | undefined
  readonly options: Readonly<Record<string, CommandOptionDef>>
  readonly args: Readonly<Record<string, CommandArgDef>>
  readonly fn: (args: unknown, ctx: unknown) => unknown
}

export interface AppDefinition {
  readonly config: AppConfig
  readonly topics: Readonly<Record<string, TopicDef>>
  readonly agents: Readonly<Record<string, AgentDef>>
  readonly tables: Readonly<Record<string, TableDef>>
  readonly timers: Readonly<Record<string, TimerDef>>
  readonly crons: Readonly<Record<string, CronDef>>
  readonly routes: readonly RouteDef[]
  readonly commands: Readonly<Record<string, CommandDef>>
  /** In declaration order: started in it, stopped in reverse. */
  readonly services: readonly ServiceDef[]
  readonly tasks: Readonly<Record<string, TaskDef>>
  readonly hooks: readonly HookDef[]
  /** In-process queues agents read (absent: none declared). */
  readonly channels?: Readonly<Record<string, ChannelDef>>
}
