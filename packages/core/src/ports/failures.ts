/**
 * What each port's methods fail with: a tagged union per port, built from the
 * errors of definition/errors.ts. A promise's rejection cannot be typed in
 * TypeScript, so the unions are a contract an adapter keeps at its boundary
 * (it maps its client's errors to a member, and wraps anything else) and the
 * conformance suites check (each failure they provoke rejects with a member,
 * with the tag they expect). The runtime then decides retriable vs fatal by
 * tag (`retriable` in definition/errors.ts), never by looking into an unknown.
 *
 * Two pass-throughs are not the adapter's to map, and keep what was thrown:
 * what a RebalanceListener threw (start/subscribe/fetch of a GroupConsumer
 * reject with it) and what the function given to `Store.transaction` or
 * `AtomicCommit.run` threw.
 */
import {
  BrokerError,
  type ConfigError,
  type Failure,
  messageOf,
  StoreError,
  StreamAppError,
} from '../definition/errors.ts'

/**
 * Broker methods (ensureTopics, partitions, replication, endOffsets,
 * beginningOffsets, close) and the synchronous openers (producer,
 * groupConsumer, reader, transactionalProducer): a BrokerError (closed,
 * unreachable, refused; `retriable` says whether waiting can help) or a
 * ConfigError (settings the adapter refuses, e.g. a group protocol option).
 */
export type BrokerFailure = BrokerError | ConfigError

/** GroupConsumer methods: a BrokerError (a closed consumer's commit, the group coordinator away, …). */
export type GroupConsumerFailure = BrokerError

/** PartitionReader methods: a BrokerError. */
export type PartitionReaderFailure = BrokerError

/** Producer send/write/close: a BrokerError (closed, unreachable, a record refused). */
export type ProducerFailure = BrokerError

/**
 * TransactionalProducer methods: a BrokerError. A retriable one asks for
 * abort() and another try; a fatal one (fenced) for a new producer.
 */
export type TransactionFailure = BrokerError

/** AtomicCommit.run: the broker's log or the store failed (or what `fn` threw, as it was). */
export type AtomicCommitFailure = BrokerError | StoreError

/** Store and TableStore methods: a StoreError (closed, locked, full, corrupt; or what a transaction's `fn` threw). */
export type StoreFailure = StoreError

/** The tags of each port's union, for checking a rejection at run time (the conformance suites do). */
export const PORT_FAILURE_TAGS = {
  broker: ['BrokerError', 'ConfigError'],
  groupConsumer: ['BrokerError'],
  partitionReader: ['BrokerError'],
  producer: ['BrokerError'],
  transaction: ['BrokerError'],
  atomicCommit: ['BrokerError', 'StoreError'],
  store: ['StoreError'],
} as const satisfies Record<string, readonly Failure['_tag'][]>

export type PortName = keyof typeof PORT_FAILURE_TAGS

/** True when `e` is a member of `port`'s failure union. */
export const isPortFailure = (port: PortName, e: unknown): boolean =>
  e instanceof StreamAppError && (PORT_FAILURE_TAGS[port] as readonly string[]).includes(e._tag)

/**
 * An adapter's boundary for broker calls: a member of the union passes as it
 * is; anything else (a client's own error, a bug) becomes a one-line
 * BrokerError saying what was being done, not retriable (nothing says waiting
 * helps), with the original as its cause.
 */
export const toBrokerFailure = (what: string, e: unknown): BrokerFailure =>
  isPortFailure('broker', e)
    ? (e as BrokerFailure)
    : new BrokerError(`${what}: ${messageOf(e)}`, false, { cause: e })

/** As toBrokerFailure, for a store: anything not a StoreError becomes one. */
export const toStoreFailure = (what: string, e: unknown): StoreFailure =>
  e instanceof StoreError ? e : new StoreError(`${what}: ${messageOf(e)}`, false, { cause: e })
