/**
 * A PartitionReader: a librdkafka consumer with a manual `assign()` outside
 * any group (changelog recovery, the reply topic, the members registry). It
 * never commits; librdkafka only requires a group.id, so it gets a throwaway one.
 */
import { randomUUID } from 'node:crypto'
import type {
  FetchOptions,
  PartitionReader,
  RecordBatch,
  TopicPartition,
  TopicPartitionOffset,
} from '@stream-app/core'
import { tpKey } from '@stream-app/core/runtime'
import { type ClientContext, call, KafkaConsumer } from './client.ts'
import { consumerDefaults, Fetcher, takeBatches, toBatches } from './fetcher.ts'
import type { Owner } from './owned.ts'

const CONNECT_TIMEOUT_MS = 15_000

export class KafkaReader implements PartitionReader {
  private readonly f: Fetcher
  private readonly positions = new Map<string, TopicPartitionOffset>()
  private readonly ready: Promise<void>
  private leftovers: RecordBatch[] = []
  private pulling: Promise<unknown> | undefined
  private seekedDuringPull = new Set<string>()
  private closed = false

  constructor(
    private readonly ctx: ClientContext,
    assignments: readonly TopicPartitionOffset[],
    options: { readCommitted?: boolean; clientId: string },
    /** The broker that handed this out: told when the user closes it. */
    private readonly owner: Owner,
  ) {
    this.f = new Fetcher(ctx)
    for (const a of assignments) this.positions.set(tpKey(a.topic, a.partition), a)
    const native = new KafkaConsumer({
      ...consumerDefaults,
      ...ctx.config,
      'client.id': options.clientId,
      'group.id': `stream-app-reader-${randomUUID()}`,
      'isolation.level': options.readCommitted ? 'read_committed' : 'read_uncommitted',
      queue_non_empty_cb: this.f.onQueueNonEmpty,
    } as never)
    this.f.consumer = native
    ctx.watch(native, 'partition reader')
    this.ready = (async () => {
      try {
        await this.ctx.connect(native, (cb) =>
          native.connect({ allTopics: false, timeout: CONNECT_TIMEOUT_MS }, cb),
        )
      } catch (e) {
        throw this.ctx.error(`reading ${describe(assignments)}`, e)
      }
      native.setDefaultConsumeTimeout(0)
      ;(
        native as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }
      ).setDefaultIsTimeoutOnlyForFirstMessage(true)
      if (!this.closed) this.assign()
    })()
    // Surfaced by fetch(); avoid an unhandled rejection if nobody fetches.
    this.ready.catch(() => {})
  }

  private assign(): void {
    this.f.consumer.assign([...this.positions.values()].map((p) => ({ ...p })))
  }

  async fetch(options: FetchOptions): Promise<RecordBatch[]> {
    await this.ready
    const deadline = Date.now() + options.maxWaitMs
    for (;;) {
      if (this.closed) return []
      if (this.leftovers.length) return this.advance(takeBatches(this.leftovers, options.maxRecords))
      if (this.f.takeWoken()) return []
      this.seekedDuringPull = new Set()
      const pull = this.f.consumeNow(options.maxRecords)
      this.pulling = pull
      let batches: RecordBatch[]
      try {
        batches = toBatches(await pull)
      } catch (e) {
        throw this.ctx.error(`reading ${describe([...this.positions.values()])}`, e)
      } finally {
        this.pulling = undefined
      }
      // Drop what a seek() during the call made stale.
      const fresh = batches.filter((b) => !this.seekedDuringPull.has(tpKey(b.topic, b.partition)))
      if (fresh.length) return this.advance(fresh)
      if (this.f.takeWoken() || Date.now() >= deadline) return []
      await this.f.waitForData(deadline - Date.now())
    }
  }

  private advance(batches: RecordBatch[]): RecordBatch[] {
    for (const b of batches) {
      const last = b.records[b.records.length - 1]!
      this.positions.set(tpKey(b.topic, b.partition), {
        topic: b.topic,
        partition: b.partition,
        offset: last.offset + 1,
      })
    }
    return batches
  }

  /**
   * The offset of the next record this reader will return for a partition.
   * Unlike "last record + 1" it moves past transaction markers (librdkafka's
   * position does), so under exactly-once a reader can tell it reached the end
   * offset even when the log ends with a commit marker.
   */
  position(tp: TopicPartition): number | undefined {
    const k = tpKey(tp.topic, tp.partition)
    const tracked = this.positions.get(k)?.offset
    const left = this.leftovers.find((b) => tpKey(b.topic, b.partition) === k)
    if (left) return left.records[0]!.offset
    if (this.pulling || !this.f.consumer.isConnected()) return tracked
    const [native] = this.f.consumer.position([{ topic: tp.topic, partition: tp.partition }])
    return native && native.offset >= 0 ? Math.max(native.offset, tracked ?? 0) : tracked
  }

  seek(tpo: TopicPartitionOffset): void {
    const k = tpKey(tpo.topic, tpo.partition)
    this.positions.set(k, { topic: tpo.topic, partition: tpo.partition, offset: tpo.offset })
    this.leftovers = this.leftovers.filter((b) => tpKey(b.topic, b.partition) !== k)
    this.seekedDuringPull.add(k)
    // Re-assigning restarts fetching of every partition at its tracked position.
    if (this.f.consumer.isConnected()) this.assign()
  }

  wakeup(): void {
    this.f.wakeup()
  }

  async close(): Promise<void> {
    this.owner.release(this)
    if (this.closed) return
    this.closed = true
    this.f.closed = true
    this.f.wakeup()
    await this.ready.catch(() => {})
    await this.pulling?.catch(() => {})
    const native = this.f.consumer
    if (native.isConnected()) await call((cb) => native.disconnect(cb)).catch(() => {})
  }
}

const describe = (tpos: readonly TopicPartitionOffset[]): string =>
  tpos.map((t) => `${t.topic}[${t.partition}]@${t.offset}`).join(', ') || 'no partitions'
