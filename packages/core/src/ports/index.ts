/**
 * The ports the runtime is wired from. Adapters (memory, sqlite, kafka, the web server)
 * implement these; the runtime never knows which one it talks to.
 *
 * The broker seam is batch-oriented on purpose: one call produces many records,
 * one fetch returns a batch per partition, one commit covers many offsets.
 * What each method fails with is in failures.ts (a tagged union per port).
 */

export * from './failures.ts'

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The offset of the next record to read (Kafka's committed-offset meaning). */
  readonly offset: number
}

export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  /** Replication factor; absent: the app's replicationFactor for internal topics, else the cluster's default. */
  readonly replicas?: number
  /** Created by stream-app for its own use (changelogs, repartition, replies, leader, dead letters, members). */
  readonly internal?: boolean
  /** A table's changelog: on a replicated broker it refuses writes that fewer than RF-1 replicas hold. */
  readonly changelog?: boolean
  /** Delete records older than this (ms). */
  readonly retentionMs?: number
  /** Keep only the newest record per key (changelogs). */
  readonly compacted?: boolean
  /** Broker-specific topic settings, passed as is (Kafka topic configs). */
  readonly config?: Readonly<Record<string, string>>
}

/** How a topic is replicated, as the broker reports it. */
export interface TopicReplication {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
  /** Replicas in sync with the leader, for the partition that has the fewest; null where it does not apply (one copy). */
  readonly inSyncReplicas: number | null
}

export type BrokerReachability =
  | { readonly reachable: true }
  | { readonly reachable: false; readonly error: string; readonly sinceMs: number }

export type Headers = Readonly<Record<string, Uint8Array>>

/** The headers of a record without any: one shared object, so adapters can tell it apart without looking inside. */
export const NO_HEADERS: Headers = Object.freeze({})

/** A record to produce. The runtime always picks the partition (murmur2), so every broker agrees. */
export interface ProduceRecord {
  readonly topic: string
  readonly partition: number
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers?: Headers
  readonly timestamp: number
}

export interface RecordMetadata extends TopicPartition {
  readonly offset: number
  readonly timestamp: number
}

/** A record as consumed. */
export interface BrokerRecord extends RecordMetadata {
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: Headers
}

/** Consecutive records of one partition, oldest first. */
export interface RecordBatch extends TopicPartition {
  readonly records: readonly BrokerRecord[]
}

export interface RebalanceListener {
  /** Called before partitions are taken away: finish and commit what you hold. */
  readonly onRevoke: (partitions: readonly TopicPartition[]) => Promise<void>
  /** Called after partitions are given: recover their state before processing. */
  readonly onAssign: (partitions: readonly TopicPartition[]) => Promise<void>
}

export interface GroupConsumerOptions {
  readonly groupId: string
  readonly topics: readonly string[]
  readonly listener: RebalanceListener
  /** Metadata (e.g. the worker's URL) other members can see, for routing table queries. */
  readonly memberMetadata?: string
  /**
   * This worker's stable identity, the same across its restarts (Kafka: static
   * membership, so a member back within the session timeout keeps its
   * partitions without a rebalance). Undefined: a new identity every start.
   */
  readonly instanceId?: string
  /** Where to start when the group has no committed offset: 'earliest' (default) or 'latest'. */
  readonly autoOffsetReset?: 'earliest' | 'latest'
  /** Read only committed transactional data (exactly-once). */
  readonly readCommitted?: boolean
}

export interface FetchOptions {
  /** Upper bound on records returned across partitions. */
  readonly maxRecords: number
  /** Wait at most this long (real ms) for data when nothing is ready. */
  readonly maxWaitMs: number
}

/** A member of a consumer group. Its methods fail with a GroupConsumerFailure. */
export interface GroupConsumer {
  /** Joins the group; resolves once the first assignment has been handled by the listener. */
  start(): Promise<void>
  /** Changes the subscription (e.g. a groupBy adds its repartition topic). */
  subscribe(topics: readonly string[]): Promise<void>
  fetch(options: FetchOptions): Promise<RecordBatch[]>
  /** Stop (resume) fetching these partitions: backpressure. */
  pause(partitions: readonly TopicPartition[]): void
  resume(partitions: readonly TopicPartition[]): void
  /** Rewind or skip: the next fetch of this partition starts at offset. */
  seek(tpo: TopicPartitionOffset): void
  assignment(): readonly TopicPartition[]
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>
  committed(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]>
  /** Members of the group with their metadata, for routing (may be empty if unknown). */
  members(): Promise<readonly GroupMember[]>
  /** Wakes a pending fetch so the caller can stop promptly. */
  wakeup(): void
  /**
   * The next offset this consumer will read of a partition. With transactions a
   * log ends in a commit marker, so this can be past the last record + 1.
   */
  position?(tp: TopicPartition): number | undefined
  /**
   * How long after one assignment change another step of the same rebalance
   * may still come (about a heartbeat interval of the group protocol). The
   * worker calls its group stable only after this long without a change, and
   * never sooner than GROUP_SETTLE_MS; brokers that move at once leave it out.
   */
  readonly rebalanceSettleMs?: number | undefined
  close(): Promise<void>
}

export interface GroupMember {
  readonly memberId: string
  readonly metadata: string
  readonly assignment: readonly TopicPartition[]
}

/**
 * A reader of explicitly chosen partitions, outside any group (changelog recovery, replies).
 * Its methods fail with a PartitionReaderFailure.
 */
export interface PartitionReader {
  fetch(options: FetchOptions): Promise<RecordBatch[]>
  seek(tpo: TopicPartitionOffset): void
  wakeup(): void
  /** As GroupConsumer.position: may be past the last record + 1 (transaction markers). */
  position?(tp: TopicPartition): number | undefined
  close(): Promise<void>
}

/** Its methods fail with a ProducerFailure. */
export interface Producer {
  /** Resolves when every record is durable on the broker (acked), in order per partition. */
  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]>
  /**
   * Optional, for brokers where an acknowledgement per record is costly (Kafka):
   * hands the records over and resolves, without metadata, once all of them are
   * durable; rejects if any may be lost. Completion may wait for the next
   * `sync()`, which the producer also starts by itself soon after writes stop.
   * Records of one partition keep the order of the send() and write() calls
   * that carry them. The runtime writes what nobody awaits (sink records) this way.
   */
  write?(records: readonly ProduceRecord[]): Promise<void>
  /** Starts making everything written so far durable now (a commit is waiting for it). */
  sync?(): void
  close(): Promise<void>
}

/**
 * A transactional producer (exactly-once): sends and the consumer's offsets of
 * one commit become visible together or not at all. Its methods fail with a
 * TransactionFailure.
 */
export interface TransactionalProducer extends Producer {
  begin(): Promise<void>
  sendOffsets(consumer: GroupConsumer, offsets: readonly TopicPartitionOffset[]): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
  /**
   * Resolves once the producer is initialised: on Kafka that fenced any earlier producer of
   * the same transactional id and had its open transaction aborted. Optional; opening is lazy.
   */
  ready?(): Promise<void>
}

/**
 * A broker whose log lives in a local database can commit a whole unit of work
 * in one local transaction (exactly-once on sqlite://): the appended records,
 * the table store's rows (the store shares the database) and the group offsets.
 * `run` fails with an AtomicCommitFailure, or with what its function threw.
 */
export interface AtomicCommit {
  /** The table store living in the broker's own database, so its writes join `run`'s transaction. */
  store(): Store
  /** Runs fn synchronously inside one database transaction; everything in it lands together or not at all. */
  run<T>(fn: (tx: AtomicTransaction) => T): T
}

export interface AtomicTransaction {
  append(records: readonly ProduceRecord[]): RecordMetadata[]
  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void
}

/** Its methods fail with a BrokerFailure (failures.ts). */
export interface Broker {
  /** e.g. 'memory://', 'sqlite:///path', 'kafka://127.0.0.1:9092' */
  readonly url: string
  /** Where the broker keeps its data, for the banner (may equal url). */
  readonly description: string
  /** True if another process can reach this broker (sqlite, kafka). */
  readonly shared: boolean
  /**
   * True if a group member with a stable identity (GroupConsumerOptions.instanceId)
   * is recognised when it comes back (Kafka's static membership): only then does
   * a worker keep an identity in its datadir.
   */
  readonly staticMembership?: boolean
  /** Creates missing topics; a topic that exists with another partition count is an error. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>
  /** Partition count of a topic, or undefined if it does not exist. */
  partitions(topic: string): Promise<number | undefined>
  /**
   * Replication of the topics that exist, as the broker reports it; absent on brokers that
   * keep one copy of everything (memory://, sqlite://).
   */
  replication?(topics: readonly string[]): Promise<TopicReplication[]>
  /**
   * Whether the brokers answer right now (a short metadata request, cached briefly); absent on
   * brokers inside this process or its files, which always do.
   */
  reachability?(): Promise<BrokerReachability>
  /** The offset after the last record of each partition. */
  endOffsets(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]>
  /** The first offset still present (after retention/compaction). */
  beginningOffsets(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]>
  producer(): Producer
  transactionalProducer?(transactionalId: string): TransactionalProducer
  /** Present on brokers that can commit atomically with a local store (sqlite://). */
  readonly atomic?: AtomicCommit
  groupConsumer(options: GroupConsumerOptions): GroupConsumer
  reader(assignments: readonly TopicPartitionOffset[], options?: { readCommitted?: boolean }): PartitionReader
  close(): Promise<void>
}

// ---------------------------------------------------------------------------
// Store

/** A change of one table row, keys and values already encoded (JSON text). */
export interface StoreChange {
  readonly partition: number
  readonly key: string
  /** undefined deletes the row */
  readonly value: string | undefined
}

export interface StoreRow {
  readonly partition: number
  readonly key: string
  readonly value: string
}

/**
 * One table's persistent state. `apply` writes rows and the changelog offsets
 * they reflect in one transaction, so after a crash the store's offset says
 * exactly which changelog records are already in it (Faust's persisted_offset).
 * Its methods throw a StoreFailure.
 */
export interface TableStore {
  /**
   * The rows of one partition, a page at a time: recovery hands the event loop
   * back between pages, so a worker loading a large table still answers /health.
   */
  scan(partition: number, pageSize: number): Iterable<readonly StoreRow[]>
  /** The changelog offset (next to read) the store reflects, per partition. */
  persistedOffsets(partitions: readonly number[]): Map<number, number>
  apply(changes: readonly StoreChange[], offsets: ReadonlyMap<number, number>): void
  /** Drops the rows of these partitions (they moved to another worker). */
  dropPartitions(partitions: readonly number[]): void
  close(): void
}

/** Its methods throw a StoreFailure (or, from `transaction`, what its function threw). */
export interface Store {
  readonly url: string
  readonly description: string
  /** Durable stores keep state across restarts; memory does not. */
  readonly durable: boolean
  table(name: string): TableStore
  /** Runs fn in one transaction across tables when the store supports it. */
  transaction<T>(fn: () => T): T
  close(): void
}

// ---------------------------------------------------------------------------
// Clock

/** All time goes through a Clock so the test clock drives timers, cron, commits and window expiry. */
export interface Clock {
  now(): number
  /** Calls fn at (or after) time `at`; returns a cancel function. */
  schedule(at: number, fn: () => void | Promise<void>): () => void
  sleep(ms: number): Promise<void>
}
