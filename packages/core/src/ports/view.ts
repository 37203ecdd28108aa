/**
 * What the web server (or any other front of a worker) sees of a running
 * worker: its definition and config, its state and sensor, the ctx routes get,
 * table reads for GET /tables, and where a table key is held. Adapters program
 * against this, never against the runtime's internals.
 */
import type { AnySchema } from '../definition/codec.ts'
import type { AppDefinition } from '../definition/definition.ts'
import type { Logger, ResolvedConfig, WindowValue } from '../definition/types.ts'
import type { BrokerReachability, TopicReplication } from './index.ts'
import type { Sensor, WorkerState } from './sensor.ts'

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
  table(name: string): TableQuery | undefined
  /** Every topic the worker created for itself (changelogs, repartition, replies, …), by name. */
  internalTopics(): readonly string[]
  /** Whether the broker answers (memory, sqlite: always). */
  brokerReachability(): Promise<BrokerReachability>
  /** Replication of the topics that exist, as the broker reports it (memory, sqlite: 1, in-sync null). */
  replication(topics: readonly string[]): Promise<readonly TopicReplication[]>
  ownerOf(table: string, key: unknown): Promise<KeyOwner>
}

export interface WebServerHandle {
  readonly url: string
  close(): Promise<void>
}

/** Starts the web server of a worker (the web adapter). */
export type WebServerFactory = (view: WorkerView) => Promise<WebServerHandle>
