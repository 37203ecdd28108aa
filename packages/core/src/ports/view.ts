/**
 * What the web server (or any other front of a worker) sees of a running
 * worker: its definition and config, its state and sensor, the ctx routes get,
 * table reads for GET /tables, and where a table key is held. Adapters program
 * against this, never against the runtime's internals.
 */
import type { AnySchema } from '../definition/codec.ts'
import type { AppDefinition } from '../definition/definition.ts'
import type { Logger, ResolvedConfig, WindowValue } from '../definition/types.ts'
import type { BrokerReachability, TopicPartition, TopicReplication } from './index.ts'
import type { RecoveryProgress, Sensor, WorkerState } from './sensor.ts'

/** Reads of one table, for GET /tables/:table/:key. */
export interface TableQuery {
  readonly name: string
  readonly keySchema: AnySchema
  readonly windowed: boolean
  /** The value (the default when absent); NotOwnedError for a key another worker holds. */
  get(key: unknown): unknown
  /** Windowed tables: every live window of the key. */
  windows(key: unknown): WindowValue<unknown>[]
  /** A value as the JSON text the table stores. */
  encodeValue(value: unknown): string
}

/** Where a table key is held: here (or nowhere yet), or on the worker at `url` (undefined: not known yet). */
export type KeyOwner = { readonly local: true } | { readonly local: false; readonly url: string | undefined }

/**
 * The group as this worker sees it: 'rebalancing' from joining it and from
 * each assignment change until none has happened for a settle period.
 */
export type GroupState = 'stable' | 'rebalancing'

/** Whether a worker can be trusted with traffic (GET /health, wait-ready), and why not. */
export interface Readiness {
  /** The worker runs and its group is stable. */
  readonly ready: boolean
  readonly state: WorkerState
  readonly group: GroupState
  /** Why the worker is not ready, one line; undefined when it is. */
  readonly reason: string | undefined
  /** The source partitions this worker processes. */
  readonly partitions: readonly TopicPartition[]
  /** The last assignment change this worker saw, and how long ago (ms on the worker's clock). */
  readonly lastRebalance:
    | {
        readonly kind: 'assigned' | 'revoked'
        readonly partitions: readonly TopicPartition[]
        readonly ago: number
      }
    | undefined
  /** The table recovery in progress, if any (which partitions, how far). */
  readonly recovery: RecoveryProgress | undefined
}

/** Where reading starts in each partition. */
export type RecordsFrom =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'offset'; readonly offset: number }
  /** The first record of each partition stamped at or after this time (ms). */
  | { readonly kind: 'time'; readonly ms: number }

/** A record as `tail` prints it and the records endpoint answers it. */
export interface RecordJson {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly key: unknown
  readonly value: unknown
  readonly headers: Readonly<Record<string, string>>
}

export interface RecordQuery {
  readonly topic: string
  /** Default earliest (with a group: its committed offsets, else earliest). */
  readonly from?: RecordsFrom
  readonly partition?: number
  /** At most this many records in all. */
  readonly limit?: number
  /** Read as a member of this consumer group and commit what was read (never the app's own). */
  readonly group?: string
}

export interface WorkerView {
  readonly id: string
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger
  readonly state: WorkerState
  /** This worker's web base URL, once its server listens. */
  readonly url: string | undefined
  /** The ctx routes are called with. */
  readonly ctx: unknown
  readonly sensor: Sensor
  /** Ready or not, with the group state and what the worker is doing. */
  readiness(): Readiness
  table(name: string): TableQuery | undefined
  /** Every topic the worker created for itself (changelogs, repartition, replies, …), by name. */
  internalTopics(): readonly string[]
  /** Whether the broker answers (memory, sqlite: always). */
  brokerReachability(): Promise<BrokerReachability>
  /** Replication of the topics that exist, as the broker reports it (memory, sqlite: 1, in-sync null). */
  replication(topics: readonly string[]): Promise<readonly TopicReplication[]>
  ownerOf(table: string, key: unknown): Promise<KeyOwner>
  /** A bounded read of a topic's records (GET /topics/:topic/records), outside the app's group. */
  records?(query: RecordQuery & { readonly limit: number }): Promise<readonly RecordJson[]>
}

export interface WebServerHandle {
  readonly url: string
  close(): Promise<void>
}

/** Starts the web server of a worker (the web adapter). */
export type WebServerFactory = (view: WorkerView) => Promise<WebServerHandle>
