/**
 * The kafka:// Broker: one shared idempotent producer (whose connection also
 * carries the admin client) and a second one for writes without a delivery
 * report per record (KafkaWriter), a consumer per group member or reader, and a
 * transactional producer per transactional id. Opening connects and fetches
 * metadata, so an unreachable cluster or refused credentials fail at once
 * with one clear line instead of on the first send.
 */
import type {
  Broker,
  BrokerReachability,
  GroupConsumer,
  GroupConsumerOptions,
  Logger,
  PartitionReader,
  ProduceRecord,
  Producer,
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  TopicReplication,
  TopicSpec,
  TransactionalProducer,
} from '@stream-app/core'
import { BrokerError } from '@stream-app/core'
import { toBrokerFailure } from '@stream-app/core/runtime'
import { Admin } from './admin.ts'
import { AdminClient, ClientContext, call, metadata, parseKafkaUrl, type RdProducer } from './client.ts'
import { KafkaGroupConsumer } from './consumer.ts'
import { MembersRegistry } from './members.ts'
import { OpenClients, type Owner } from './owned.ts'
import { connectProducer, KafkaProducer, KafkaTransactionalProducer } from './producer.ts'
import { KafkaReader } from './reader.ts'
import { KafkaWriter } from './writer.ts'

export interface KafkaBrokerOptions {
  /** `kafka://host:port[,host:port]` */
  readonly url: string
  /** librdkafka settings passed as is (security.protocol, sasl.*, ssl.*, …); they override stream-app's defaults. */
  readonly brokerOptions?: Record<string, unknown>
  readonly log?: Logger
  /** Prefix of every client.id (default 'stream-app'). */
  readonly clientId?: string
  /** Replication of the internal topics (the app's replicationFactor); default the cluster's. */
  readonly replicationFactor?: number
  /**
   * False (the app's `declareTopics: false`, strict ACLs): the broker creates no topic of its own
   * either, not even the probe that learns the cluster's default replication factor.
   */
  readonly createTopics?: boolean
}

const REACH_TIMEOUT_MS = 1_500
const REACH_CACHE_MS = 1_000

export class KafkaBroker implements Broker {
  readonly shared = true
  /** A member with group.instance.id keeps its partitions across a quick restart (KIP-345). */
  readonly staticMembership = true
  readonly description: string
  private readonly admin: Admin
  private readonly sharedProducer: KafkaProducer
  /** Writes without per-record delivery reports (sink records), on a producer of its own, connected on first use. */
  private readonly writer: KafkaWriter
  private readonly runtimeProducer: Producer
  private readonly registry: MembersRegistry
  /** Consumers, readers and transactional producers handed out and not closed yet. */
  private readonly clients = new OpenClients()
  private closed = false
  private reach: { at: number; result: Promise<BrokerReachability> } | undefined
  private downSince: number | undefined
  private lastReach: BrokerReachability | undefined

  constructor(
    readonly url: string,
    private readonly ctx: ClientContext,
    private readonly native: RdProducer,
    private readonly clientId: string,
    replicationFactor?: number,
    createTopics = true,
  ) {
    this.description = `Kafka at ${ctx.bootstrap}`
    this.admin = new Admin(
      AdminClient.createFrom(native),
      ctx,
      async (topic) => {
        await metadata(native, { topic, timeout: 5_000 })
      },
      {
        replicationFactor,
        createTopics,
        brokerCount: async () =>
          (await metadata(native, { allTopics: false, timeout: 5_000 })).brokers.length,
      },
    )
    this.sharedProducer = new KafkaProducer(native, ctx, 'producer', false)
    this.writer = new KafkaWriter(ctx, () =>
      connectProducer(ctx, 'the writing producer', { 'delivery.report.only.error': true }),
    )
    this.runtimeProducer = new TwoWayProducer(this.sharedProducer, this.writer)
    this.registry = new MembersRegistry({
      ctx,
      producer: this.sharedProducer,
      ensureTopics: (specs) => this.ensureTopics(specs),
      endOffset: async (topic) => (await this.endOffsets([{ topic, partition: 0 }]))[0]!.offset,
      reader: (topic) => this.reader([{ topic, partition: 0, offset: 0 }]),
    })
  }

  private check(what: string): void {
    if (this.closed) throw new BrokerError(`${what}: the kafka broker ${this.ctx.bootstrap} is closed`, false)
  }

  /**
   * The Broker port's boundary (ports/failures.ts): a call fails by rejecting, with a
   * BrokerFailure; an error of the admin client that is not one is wrapped, saying what failed.
   */
  private guard<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      this.check(what)
      return op().catch((e: unknown) => {
        throw toBrokerFailure(what, e)
      })
    } catch (e) {
      return Promise.reject(toBrokerFailure(what, e))
    }
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return this.guard('ensureTopics', () => this.admin.ensureTopics(specs))
  }

  partitions(topic: string): Promise<number | undefined> {
    return this.guard('partitions', () => this.admin.partitions(topic))
  }

  /**
   * One metadata request answered within REACH_TIMEOUT_MS, asked at most every REACH_CACHE_MS.
   * Once one has answered, callers get the latest answer at once while the next is asked: a
   * /health poll must not wait out the timeout while the brokers are away.
   */
  reachability(): Promise<BrokerReachability> {
    const now = Date.now()
    if (!this.reach || now - this.reach.at >= REACH_CACHE_MS) {
      const result = metadata(this.native, { allTopics: false, timeout: REACH_TIMEOUT_MS }).then(
        (): BrokerReachability => {
          this.downSince = undefined
          this.lastReach = { reachable: true }
          return this.lastReach
        },
        (e): BrokerReachability => {
          this.downSince ??= now
          this.lastReach = {
            reachable: false,
            error: this.ctx.error('asking the brokers for metadata', e).message,
            sinceMs: this.downSince,
          }
          return this.lastReach
        },
      )
      // Not asked again before this one has answered.
      const reach = { at: Number.POSITIVE_INFINITY, result }
      this.reach = reach
      void result.then(() => {
        reach.at = Date.now()
      })
    }
    return this.lastReach ? Promise.resolve(this.lastReach) : this.reach.result
  }

  replication(topics: readonly string[]): Promise<TopicReplication[]> {
    return this.guard('replication', () => this.admin.replication(topics))
  }

  endOffsets(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.guard('endOffsets', () => this.admin.endOffsets(partitions))
  }

  beginningOffsets(partitions: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.guard('beginningOffsets', () => this.admin.beginningOffsets(partitions))
  }

  /**
   * The broker's shared idempotent producer; close() on it is a no-op (the broker closes it).
   * send() goes out on the broker's own connection with a delivery report per record (its
   * offsets); write() on a second connection without them (see KafkaWriter).
   */
  producer(): Producer {
    this.check('producer')
    return this.runtimeProducer
  }

  transactionalProducer(transactionalId: string): TransactionalProducer {
    this.check('transactionalProducer')
    return this.clients.adopt(
      new LazyTransactionalProducer(KafkaTransactionalProducer.open(this.ctx, transactionalId), this.clients),
    )
  }

  groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    this.check('groupConsumer')
    return this.clients.adopt(
      new KafkaGroupConsumer(this.ctx, options, this.registry, this.clientId, this.clients),
    )
  }

  reader(
    assignments: readonly TopicPartitionOffset[],
    options: { readCommitted?: boolean } = {},
  ): PartitionReader {
    this.check('reader')
    return this.clients.adopt(
      new KafkaReader(
        this.ctx,
        assignments,
        { clientId: `${this.clientId}-reader`, ...(options.readCommitted ? { readCommitted: true } : {}) },
        this.clients,
      ),
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.clients.closeAll()
    await this.registry.close().catch(() => {})
    await this.writer.close().catch(() => {})
    await this.sharedProducer.flush().catch(() => {})
    await call((cb) => this.native.disconnect(10_000, cb)).catch(() => {})
  }
}

/**
 * send() on the reporting producer, write() on the writer: two connections, so
 * a call waits for the other way's calls still in flight (the writer syncs at
 * once), and the records of one partition keep the order of the calls.
 */
class TwoWayProducer implements Producer {
  private readonly inflight = new Set<Promise<unknown>>()
  private writing = false
  /** Set while calls wait for those of the other way (later calls of the new way queue behind it). */
  private switching: Promise<unknown> | undefined

  constructor(
    private readonly reporting: KafkaProducer,
    private readonly writer: KafkaWriter,
  ) {}

  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    return this.inOrder(false, () => this.reporting.send(records))
  }

  write(records: readonly ProduceRecord[]): Promise<void> {
    return this.inOrder(true, () => this.writer.write(records))
  }

  sync(): void {
    this.writer.sync()
  }

  async close(): Promise<void> {}

  private inOrder<T>(write: boolean, go: () => Promise<T>): Promise<T> {
    if (write !== this.writing && this.inflight.size > 0) {
      this.writer.sync()
      const gate = Promise.allSettled([...this.inflight])
      this.switching = gate
      void gate.then(() => {
        if (this.switching === gate) this.switching = undefined
      })
    }
    this.writing = write
    const p = this.switching ? this.switching.then(go) : go()
    this.inflight.add(p)
    const done = () => this.inflight.delete(p)
    p.then(done, done)
    return p
  }
}

/** broker.transactionalProducer() is synchronous; the producer connects and runs initTransactions behind it. */
class LazyTransactionalProducer implements TransactionalProducer {
  constructor(
    private readonly inner: Promise<KafkaTransactionalProducer>,
    private readonly owner: Owner,
  ) {
    inner.catch(() => {})
  }
  /** The TransactionalProducer port's boundary: every call fails with a TransactionFailure (a BrokerError). */
  private async use<T>(what: string, f: (p: KafkaTransactionalProducer) => Promise<T>): Promise<T> {
    try {
      return await f(await this.inner)
    } catch (e) {
      throw toBrokerFailure(`transactional producer ${what}`, e)
    }
  }
  begin() {
    return this.use('begin', (p) => p.begin())
  }
  send(records: Parameters<TransactionalProducer['send']>[0]) {
    return this.use('send', (p) => p.send(records))
  }
  sendOffsets(consumer: GroupConsumer, offsets: readonly TopicPartitionOffset[]) {
    return this.use('sendOffsets', (p) => p.sendOffsets(consumer, offsets))
  }
  commit() {
    return this.use('commit', (p) => p.commit())
  }
  abort() {
    return this.use('abort', (p) => p.abort())
  }
  async ready() {
    await this.inner
  }
  async close() {
    this.owner.release(this)
    const p = await this.inner.catch(() => undefined)
    await p?.close()
  }
}

/**
 * Opens a kafka:// broker. `brokerOptions` are librdkafka settings passed as is
 * (security.protocol, sasl.mechanisms, sasl.username, sasl.password, ssl.ca.location, …).
 * Rejects with a retriable BrokerError when no broker answers, and a
 * non-retriable one when the credentials are refused.
 */
export async function openKafkaBroker(options: KafkaBrokerOptions): Promise<Broker> {
  const bootstrap = parseKafkaUrl(options.url)
  const clientId = options.clientId ?? 'stream-app'
  const ctx = new ClientContext(
    bootstrap,
    {
      'bootstrap.servers': bootstrap,
      'client.id': clientId,
      'socket.keepalive.enable': true,
      'log.connection.close': false,
      ...options.brokerOptions,
    },
    options.log,
  )
  const native = await connectProducer(ctx, 'the kafka:// broker')
  return new KafkaBroker(
    options.url,
    ctx,
    native,
    clientId,
    options.replicationFactor,
    options.createTopics ?? true,
  )
}
