/**
 * Producers: a batch `send` that hands every record to librdkafka without
 * awaiting each one and resolves when all delivery reports of the batch are in
 * (acks=all, idempotent), plus the transactional producer for exactly-once.
 * Delivery reports are served by librdkafka's background poll thread and reach
 * JS in batches, so the hot path costs one native call per record.
 */

import type { DeliveryReport, LibrdKafkaError } from '@confluentinc/kafka-javascript'
import {
  BrokerError,
  type GroupConsumer,
  type ProduceRecord,
  type Producer,
  type RecordMetadata,
  type TopicPartitionOffset,
  type TransactionalProducer,
} from '@stream-app/core'
import {
  type ClientContext,
  Code,
  call,
  errorCode,
  produceOne,
  type RdProducer,
  Producer as RdProducerClass,
} from './client.ts'
import { KafkaGroupConsumer } from './consumer.ts'

const CONNECT_TIMEOUT_MS = 15_000
/** How long one transactional call (init, send offsets, commit, abort) may take. */
const TXN_TIMEOUT_MS = 60_000
/**
 * How long the broker lets a transaction stay open. A worker killed inside a
 * transaction leaves it open (its random transactional id is never reused to
 * fence it), and until the broker aborts it, read_committed readers of its
 * partitions stop at it and its group's offsets cannot be read: keep that
 * short, as Kafka Streams does under exactly-once (10 s).
 */
const TXN_EXPIRY_MS = 10_000
/**
 * librdkafka can leave sendOffsetsToTransaction pending past its own timeout,
 * forever: when the broker that was the group's coordinator dies and drops out
 * of the metadata, the producer keeps it cached as the coordinator and never
 * asks again (librdkafka issue 5511). The call normally takes milliseconds; one
 * pending this long is given up with its producer (the commit fails, is rewound
 * and retried on a new producer, which looks the coordinator up afresh).
 */
const TXN_STUCK_MS = 8_000

interface Pending {
  remaining: number
  readonly records: readonly ProduceRecord[]
  readonly out: RecordMetadata[]
  readonly resolve: (m: RecordMetadata[]) => void
  readonly reject: (e: unknown) => void
  failed: boolean
}

/**
 * Which batch and index each in-flight record of one partition belongs to.
 * librdkafka reports deliveries per partition in produce order, so a FIFO per
 * partition replaces a per-message opaque (which the binding would wrap in a
 * persistent V8 handle for every record).
 */
class InFlight {
  private batches: Pending[] = []
  private indices: number[] = []
  private head = 0

  push(b: Pending, i: number): void {
    this.batches.push(b)
    this.indices.push(i)
  }

  /** The index in its batch of the record shift() returned last. */
  shiftedIndex = 0

  /** The batch of the oldest in-flight record (its index in shiftedIndex), or undefined; no tuple per report. */
  shift(): Pending | undefined {
    if (this.head >= this.batches.length) return undefined
    const b = this.batches[this.head]!
    this.shiftedIndex = this.indices[this.head]!
    this.head++
    if (this.head === this.batches.length) {
      this.batches = []
      this.indices = []
      this.head = 0
    } else if (this.head > 4096 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head)
      this.indices = this.indices.slice(this.head)
      this.head = 0
    }
    return b
  }
}

/** librdkafka producer settings stream-app relies on; brokerOptions may override them. */
export const producerDefaults: Record<string, unknown> = {
  acks: 'all',
  'enable.idempotence': true,
  'linger.ms': 5,
  'batch.num.messages': 10_000,
  'queue.buffering.max.messages': 500_000,
  'message.timeout.ms': 30_000,
}

/** Opens (connects) a librdkafka producer; rejects with a clear BrokerError when Kafka is unreachable. */
export async function connectProducer(
  ctx: ClientContext,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<RdProducer> {
  const p = new RdProducerClass({ ...producerDefaults, ...ctx.config, ...extra, dr_cb: true } as never)
  ctx.watch(p, name)
  try {
    await ctx.connect(p, (cb) => p.connect({ allTopics: false, timeout: CONNECT_TIMEOUT_MS }, cb))
  } catch (e) {
    throw ctx.error(`connecting ${name}`, e)
  }
  p.setPollInBackground(true)
  return p
}

/** The Producer port over one librdkafka producer. */
export class KafkaProducer implements Producer {
  private closed = false
  private inflight = 0
  private readonly queues = new Map<string, InFlight[]>()

  constructor(
    readonly native: RdProducer,
    protected readonly ctx: ClientContext,
    protected readonly name: string,
    /** Whether close() disconnects the native producer (not for the broker's shared one). */
    private readonly owns: boolean,
  ) {
    native.on('delivery-report', (err: LibrdKafkaError | null, report: DeliveryReport) => {
      const q = this.queues.get(report.topic)?.[report.partition]
      const b = q?.shift()
      if (!q || !b) return
      const i = q.shiftedIndex
      if (b.failed) return
      if (err) {
        b.failed = true
        this.inflight--
        b.reject(ctx.error(`sending to ${report.topic}[${report.partition}]`, err))
        return
      }
      // The producer takes records over (callers never reuse what they send, as with the memory
      // broker): a record is its own metadata once its offset is set, no object per record.
      const r = b.records[i] as ProduceRecord & { offset: number }
      r.offset = report.offset
      b.out[i] = r
      if (--b.remaining === 0) {
        this.inflight--
        b.resolve(b.out)
      }
    })
  }

  private queue(topic: string, partition: number): InFlight {
    let byPartition = this.queues.get(topic)
    if (!byPartition) this.queues.set(topic, (byPartition = []))
    let q = byPartition[partition]
    if (!q) byPartition[partition] = q = new InFlight()
    return q
  }

  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    if (this.closed) return Promise.reject(new BrokerError(`${this.name} is closed`, false))
    if (records.length === 0) return Promise.resolve([])
    return new Promise<RecordMetadata[]>((resolve, reject) => {
      const b: Pending = {
        remaining: records.length,
        records,
        out: new Array(records.length),
        resolve,
        reject,
        failed: false,
      }
      this.inflight++
      this.produceFrom(records, b, 0)
    })
  }

  /** Produces records[from..]; when librdkafka's queue is full, waits for deliveries and continues. */
  private produceFrom(records: readonly ProduceRecord[], b: Pending, from: number): void {
    const p = this.native
    let topic = ''
    let byPartition: InFlight[] | undefined
    for (let i = from; i < records.length; i++) {
      const r = records[i]!
      let handed: boolean
      try {
        handed = produceOne(p, r)
      } catch (e) {
        b.failed = true
        this.inflight--
        b.reject(this.ctx.error(`sending to ${r.topic}[${r.partition}]`, e))
        return
      }
      if (!handed) {
        setTimeout(() => {
          if (!b.failed) this.produceFrom(records, b, i)
        }, 2)
        return
      }
      if (r.topic !== topic || !byPartition) {
        topic = r.topic
        this.queue(topic, r.partition)
        byPartition = this.queues.get(topic)!
      }
      ;(byPartition[r.partition] ?? this.queue(topic, r.partition)).push(b, i)
    }
  }

  /** Waits for every produced record's delivery report. */
  async flush(timeoutMs = 30_000): Promise<void> {
    if (this.inflight === 0) return
    await call((cb) => this.native.flush(timeoutMs, cb)).catch((e) => {
      throw this.ctx.error(`flushing ${this.name}`, e)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (!this.owns) return
    await this.flush().catch(() => {})
    await call((cb) => this.native.disconnect(10_000, cb)).catch(() => {})
  }
}

/**
 * The transactional producer: begin → send → sendOffsets(consumer, offsets)
 * (KIP-447: the consumer's group metadata fences zombies, so one producer per
 * worker suffices) → commit, or abort. Timeouts are far above the KafkaJS-style
 * API's fixed 5 s, since a commit under load or during a rebalance takes longer.
 */
export class KafkaTransactionalProducer extends KafkaProducer implements TransactionalProducer {
  static async open(ctx: ClientContext, transactionalId: string): Promise<KafkaTransactionalProducer> {
    const name = `transactional producer '${transactionalId}'`
    // brokerOptions may set both; librdkafka requires message.timeout.ms <= transaction.timeout.ms.
    const expiry = Number(ctx.config['transaction.timeout.ms'] ?? TXN_EXPIRY_MS)
    const native = await connectProducer(ctx, name, {
      'transactional.id': transactionalId,
      'transaction.timeout.ms': expiry,
      'message.timeout.ms': Math.min(expiry, Number(ctx.config['message.timeout.ms'] ?? expiry)),
    })
    try {
      await call((cb) => native.initTransactions(TXN_TIMEOUT_MS, cb))
    } catch (e) {
      await call((cb) => native.disconnect(5_000, cb)).catch(() => {})
      throw ctx.error(`initialising ${name}`, e)
    }
    return new KafkaTransactionalProducer(native, ctx, name, true)
  }

  async begin(): Promise<void> {
    this.checkStuck()
    await call((cb) => this.native.beginTransaction(cb)).catch((e) => {
      throw this.txnError('beginning a transaction', e)
    })
  }

  async sendOffsets(consumer: GroupConsumer, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (!(consumer instanceof KafkaGroupConsumer))
      throw new BrokerError(`${this.name}: sendOffsets needs a consumer from the same kafka:// broker`, false)
    if (!offsets.length) return
    const tpos = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))
    await this.unstuck(
      'adding consumer offsets to the transaction',
      call((cb) => this.native.sendOffsetsToTransaction(tpos, consumer.native, TXN_TIMEOUT_MS, cb)),
    ).catch((e) => {
      throw this.txnError('adding consumer offsets to the transaction', e)
    })
  }

  /** Set when a call never returned: every later call fails at once (the runtime replaces the producer). */
  private stuck: string | undefined

  private unstuck<T>(what: string, p: Promise<T>): Promise<T> {
    p.catch(() => {})
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stuck = `${what} did not return within ${TXN_STUCK_MS / 1000} s`
        this.ctx.log?.warn(`kafka ${this.name}: ${this.stuck}; giving this producer up for a new one`)
        reject(new BrokerError(`${this.name}: ${this.stuck}`, true))
      }, TXN_STUCK_MS)
      p.then(
        (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        (e) => {
          clearTimeout(timer)
          reject(e)
        },
      )
    })
  }

  private checkStuck(): void {
    if (this.stuck) throw new BrokerError(`${this.name}: given up (${this.stuck})`, true)
  }

  async commit(): Promise<void> {
    this.checkStuck()
    await call((cb) => this.native.commitTransaction(TXN_TIMEOUT_MS, cb)).catch((e) => {
      throw this.txnError('committing the transaction', e)
    })
  }

  async abort(): Promise<void> {
    this.checkStuck()
    await call((cb) => this.native.abortTransaction(TXN_TIMEOUT_MS, cb)).catch((e) => {
      throw this.txnError('aborting the transaction', e)
    })
  }

  /**
   * A fatal error cannot be retried on this producer; one that needs an abort can, after abort().
   * Fenced is fatal for the producer but not for the worker: its transactional id is random and
   * never shared, so only the broker can have fenced it, by aborting a transaction that stayed
   * open past transaction.timeout.ms (while a dead broker's partitions moved). The runtime
   * replaces the producer and redoes the work from the last commit.
   */
  private txnError(what: string, e: unknown): BrokerError {
    const err = this.ctx.error(`${this.name}: ${what}`, e)
    if (errorCode(e) === Code.FENCED)
      return new BrokerError(
        `${err.message}; the broker aborted the transaction (open longer than transaction.timeout.ms): retrying on a new producer`,
        true,
        { cause: e },
      )
    const fatal = (e as { isFatal?: boolean }).isFatal === true
    const needsAbort = (e as { isTxnRequiresAbort?: boolean }).isTxnRequiresAbort === true
    if (fatal || !needsAbort || err.retriable) return err
    return new BrokerError(`${err.message}; abort() and retry`, true, { cause: e })
  }
}
