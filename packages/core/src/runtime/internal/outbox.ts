/**
 * Outgoing records, batched: sends are queued synchronously and written to the
 * broker in one call per tick. `flush()` resolves when everything queued before
 * it is durable — the first step of every commit.
 *
 * Under exactly-once the outbox holds records instead: they are written by the
 * commit, in the same transaction as the offsets that produced them.
 */
import { textRecordsToBytes } from '../../definition/codec.ts'
import { asFailure, retriable } from '../../definition/errors.ts'
import type { ProduceRecord, Producer, RecordMetadata } from '../../ports/index.ts'

export interface OutboxOptions {
  /**
   * Runs a send again until it succeeds while its failures are retriable (the
   * worker's shared backoff); default: no retry.
   */
  readonly retry?: <T>(send: () => Promise<T>, giveUp: () => boolean) => Promise<T>
  /** Told when sends settle (idle() waits for the outbox to empty). */
  readonly onSettled?: () => void
  /** Told when a held record is awaited (a user send under exactly_once): the worker commits soon. */
  readonly onHeldAwait?: () => void
  readonly maxBatch?: number
  /**
   * Unacknowledged records beyond which `pressure()` holds producers back. On a
   * loaded Kafka acknowledgements take a while: 100k held the agent back often.
   */
  readonly maxInflight?: number
  /** The same bound in key and value bytes (large records). */
  readonly maxInflightBytes?: number
}

interface Waiter {
  readonly index: number
  readonly resolve: (m: RecordMetadata) => void
  readonly reject: (e: unknown) => void
}

export class Outbox {
  private queue: ProduceRecord[] = []
  private waiters: Waiter[] = []
  private inflight = new Set<Promise<void>>()
  private scheduled = false
  /** Something queued cannot be replayed by a rewind: the batch is kept until written (see push). */
  private keepQueued = false
  /** Records (and their key and value bytes) handed to the producer and not yet acknowledged. */
  private inflightRecords = 0
  private inflightBytes = 0
  private relief: { promise: Promise<void>; resolve: () => void } | undefined
  private failure: unknown
  closed = false
  /** exactly-once: keep records for the commit's transaction instead of sending them. */
  holding = false
  /** Records handed to the broker and acknowledged. */
  sent = 0
  readonly perTopic = new Map<string, number>()

  private readonly maxBatch: number
  private readonly maxInflight: number
  private readonly maxInflightBytes: number

  constructor(
    private readonly producer: Producer,
    private readonly onError: (e: unknown) => void,
    private readonly options: OutboxOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 5000
    this.maxInflight = options.maxInflight ?? 300_000
    this.maxInflightBytes = options.maxInflightBytes ?? 64 * 1024 * 1024
  }

  /** A held record is wanted soon (exactly_once): asks the worker for a commit now rather than at the interval. */
  requestCommit(): void {
    this.options.onHeldAwait?.()
  }

  /**
   * Backpressure from the broker: while too many records are unacknowledged a
   * promise that resolves once half of them are; undefined otherwise. Agents
   * wait on it before taking their next record, so a broker slower than the
   * handlers slows the handlers instead of queueing without bound.
   */
  pressure(): Promise<void> | undefined {
    if (this.inflightRecords < this.maxInflight && this.inflightBytes < this.maxInflightBytes)
      return undefined
    if (!this.relief) {
      this.sync()
      let resolve!: () => void
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      this.relief = { promise, resolve }
    }
    return this.relief.promise
  }

  private settled(n: number, bytes: number): void {
    this.inflightRecords -= n
    this.inflightBytes -= bytes
    this.options.onSettled?.()
    if (
      this.relief &&
      this.inflightRecords < this.maxInflight / 2 &&
      this.inflightBytes < this.maxInflightBytes / 2
    ) {
      const r = this.relief
      this.relief = undefined
      r.resolve()
    }
  }

  /**
   * Queues a record; nothing to await (sink writes, changelog). `replayable`:
   * a commit's rewind brings it back if its write fails (it was made from a
   * topic's record); otherwise the outbox keeps it until written, to write it
   * again (a channel's value, a timer's window).
   */
  push(record: ProduceRecord, replayable = false): void {
    if (!replayable) this.keepQueued = true
    this.queue.push(record)
    if (this.holding) return
    if (this.queue.length >= this.maxBatch) this.send()
    else this.schedule()
  }

  /** Queues a record and resolves with its offset once durable (user sends). */
  pushAwait(record: ProduceRecord): Promise<RecordMetadata> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ index: this.queue.length, resolve, reject })
      this.push(record)
      if (this.holding) this.requestCommit()
    })
  }

  get pending(): number {
    return this.queue.length + this.inflight.size
  }

  /** Sends awaited by their callers that only the next commit can settle (exactly-once). */
  get heldAwaited(): number {
    return this.holding ? this.waiters.length : 0
  }

  /** Records held for the next transaction (exactly-once). */
  get held(): number {
    return this.holding ? this.queue.length : 0
  }

  /** Takes the held records for a transaction; `settle` resolves their waiters with the offsets. */
  takeHeld(): {
    records: ProduceRecord[]
    settle: (meta: readonly RecordMetadata[]) => void
    fail: (e: unknown) => void
  } {
    const records = this.queue
    const waiters = this.waiters
    this.queue = []
    this.waiters = []
    this.keepQueued = false
    textRecordsToBytes(records)
    return {
      records,
      settle: (meta) => {
        this.sent += records.length
        this.count(records)
        for (const w of waiters) w.resolve(meta[w.index]!)
      },
      fail: (e) => {
        for (const w of waiters) w.reject(e)
      },
    }
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.send()
    })
  }

  private send(): void {
    if (this.queue.length === 0 || this.holding) return
    const batch = this.queue
    const waiters = this.waiters
    this.queue = []
    this.waiters = []
    textRecordsToBytes(batch)
    let bytes = 0
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      bytes += (r.value?.byteLength ?? 0) + (r.key?.byteLength ?? 0)
    }
    this.inflightRecords += batch.length
    this.inflightBytes += bytes
    const keep = this.keepQueued
    this.keepQueued = false
    // What nobody awaits is written without per-record acknowledgements where the producer can.
    const write = waiters.length === 0 && this.producer.write !== undefined
    if (write && !keep) {
      this.write(batch, bytes)
      return
    }
    const p = (
      write
        ? this.retrying(batch, () => this.producer.write!(batch))
        : this.retrying(batch, () => this.producer.send(batch))
    ).then(
      (meta) => {
        this.settled(batch.length, bytes)
        for (const w of waiters) w.resolve(meta![w.index]!)
      },
      (e) => {
        this.settled(batch.length, bytes)
        this.failure = e
        for (const w of waiters) w.reject(e)
      },
    )
    this.track(p)
  }

  /** Holds a send in flight until it settles (flush() waits for what is in flight). */
  private track(p: Promise<void>): void {
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  /**
   * A write nobody awaits of replayable records, kept apart from send() so
   * that no closure holds the batch: its records (and the consumed value buffers a passthrough forwards)
   * become garbage as soon as the producer has them, instead of living until
   * the producer's next sync and being promoted to V8's old generation on the
   * way (the largest share of a Kafka passthrough's GC time and peak memory).
   * The price: a failed write cannot be written again from here. Its failure
   * fails the next flush(), and the commit that called it goes back to the
   * last commit and processes the records again (at-least-once: the records
   * came from topics); the producer itself retries until its message timeout
   * first.
   */
  private write(batch: ProduceRecord[], bytes: number): void {
    const n = batch.length
    const counts = topicCounts(batch)
    const p = this.producer.write!(batch).then(
      () => {
        this.sent += n
        this.addCounts(counts)
        this.settled(n, bytes)
      },
      (e: unknown) => {
        this.onError(e)
        this.settled(n, bytes)
        this.failure = e
      },
    )
    this.track(p)
  }

  /**
   * Sends a batch now, retrying while the broker says a retry may help, and
   * resolves with the offsets (the changelog writes of a commit use this).
   */
  transmit(batch: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    textRecordsToBytes(batch)
    return this.retrying(batch, () => this.producer.send(batch))
  }

  private retrying<T>(batch: readonly ProduceRecord[], go: () => Promise<T>): Promise<T> {
    const attempt = () =>
      go().catch((e: unknown) => {
        this.onError(e)
        throw e
      })
    // The broker may come back: keep the batch and try again, never drop it.
    const retry = this.options.retry
    const sent = attempt().catch((e: unknown) => {
      if (!retriable(asFailure(e)) || this.closed || retry === undefined) throw e
      return retry(attempt, () => this.closed)
    })
    return sent.then((result) => {
      this.sent += batch.length
      this.count(batch)
      return result
    })
  }

  /** Counts sent records per topic, a Map update per run of one topic rather than per record. */
  private count(records: readonly ProduceRecord[]): void {
    this.addCounts(topicCounts(records))
  }

  private addCounts(counts: readonly (string | number)[]): void {
    for (let i = 0; i < counts.length; i += 2) {
      const topic = counts[i] as string
      this.perTopic.set(topic, (this.perTopic.get(topic) ?? 0) + (counts[i + 1] as number))
    }
  }

  /** Asks the producer to make what was written durable now instead of soon (see Producer.sync). */
  sync(): void {
    this.producer.sync?.()
  }

  /** Resolves when every queued record is acknowledged; rejects if any send failed since the last flush. */
  async flush(): Promise<void> {
    this.send()
    this.sync()
    // What is in flight now, not what handlers send meanwhile: under a steady stream of sends
    // the set never empties, and a commit waiting for that never came (none in minutes).
    await Promise.all([...this.inflight])
    if (this.failure !== undefined) {
      const e = this.failure
      this.failure = undefined
      throw e
    }
  }
}

/** [topic, count, topic, count, …] over the runs of one topic in `records`. */
function topicCounts(records: readonly ProduceRecord[]): (string | number)[] {
  const out: (string | number)[] = []
  let i = 0
  while (i < records.length) {
    const topic = records[i]!.topic
    let j = i + 1
    while (j < records.length && records[j]!.topic === topic) j++
    out.push(topic, j - i)
    i = j
  }
  return out
}
