/**
 * Writes without a delivery report per record. The binding turns every
 * delivery report into a JS object with a copy of the key in a new Buffer and
 * calls into JS once per record: in a consume → produce loop that was a third
 * of the main thread's time. This producer asks librdkafka for reports of
 * failures only (`delivery.report.only.error`) and learns that records are
 * durable from a sync: `flush()` returns once nothing is outstanding, so every
 * write handed over before it began is acknowledged (acks=all, idempotent).
 *
 * librdkafka's queue never empties while records keep coming, so writes that
 * arrive during a sync are held here (a few milliseconds) and handed over when
 * it ends. A sync starts when a commit asks (`sync()`), when writes pause, or
 * when enough has been written since the last one.
 *
 * A failure report does not say which write its record came from: every write
 * not yet confirmed is rejected (the caller writes them again; at-least-once
 * allows the duplicates).
 */
import type { DeliveryReport, LibrdKafkaError } from '@confluentinc/kafka-javascript'
import { BrokerError, type ProduceRecord } from '@stream-app/core'
import { type ClientContext, Code, call, errorCode, produceOne, type RdProducer } from './client.ts'

/** A sync starts when nothing was written for this long… */
const SYNC_AFTER_PAUSE_MS = 50
/**
 * …or when this many records were written since the last one. Not on a timer:
 * commits sync anyway, and every sync delays the writes that arrive while it
 * runs (by 10–20 ms), which shows in the tail latency.
 */
const SYNC_EVERY_RECORDS = 100_000
/** One flush call's limit; a flush that times out (Kafka unreachable) is called again. */
const FLUSH_TIMEOUT_MS = 10_000

interface Write {
  /** Emptied once librdkafka has them all: kept to the sync, every record was promoted to V8's old generation. */
  records: readonly ProduceRecord[]
  readonly count: number
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
  /** records[0, next) are handed to librdkafka. */
  next: number
  settled: boolean
}

const HANDED: readonly ProduceRecord[] = []

const settle = (w: Write, error?: unknown): void => {
  if (w.settled) return
  w.settled = true
  if (error === undefined) w.resolve()
  else w.reject(error)
}

export class KafkaWriter {
  private native: RdProducer | undefined
  private connecting: Promise<void> | undefined
  /** Writes not yet wholly handed to librdkafka, in order. */
  private queue: Write[] = []
  /** Handed over, waiting for a sync. */
  private unsynced: Write[] = []
  private unsyncedRecords = 0
  /** Writes the running sync confirms when it ends. */
  private confirming: Write[] = []
  private syncing: Promise<void> | undefined
  private syncWanted = false
  private waitingForRoom = false
  private lastWrite = 0
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly ctx: ClientContext,
    private readonly connect: () => Promise<RdProducer>,
  ) {}

  write(records: readonly ProduceRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new BrokerError('the producer is closed', false))
    if (records.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, count: records.length, resolve, reject, next: 0, settled: false })
      this.pump()
    })
  }

  sync(): void {
    this.syncWanted = true
    this.startSync()
  }

  private open(): void {
    this.connecting ??= this.connect().then(
      (p) => {
        this.native = p
        p.on('delivery-report', (err: LibrdKafkaError | null, report: DeliveryReport) => {
          if (err) this.failAll(this.ctx.error(`sending to ${report.topic}[${report.partition}]`, err))
        })
        this.pump()
      },
      (e: unknown) => {
        this.connecting = undefined
        for (const w of this.queue.splice(0)) settle(w, e)
      },
    )
  }

  /** Hands queued writes to librdkafka in order; stops while a sync runs or the queue is full. */
  private pump(): void {
    if (this.syncing || this.waitingForRoom) return
    const p = this.native
    if (!p) {
      this.open()
      return
    }
    while (this.queue.length) {
      const w = this.queue[0]!
      if (!w.settled) {
        const rs = w.records
        for (; w.next < rs.length; w.next++) {
          const r = rs[w.next]!
          let handed: boolean
          try {
            handed = produceOne(p, r)
          } catch (e) {
            settle(w, this.ctx.error(`sending to ${r.topic}[${r.partition}]`, e))
            break
          }
          if (!handed) {
            this.waitingForRoom = true
            setTimeout(() => {
              this.waitingForRoom = false
              this.pump()
            }, 2)
            return
          }
        }
      }
      this.queue.shift()
      w.records = HANDED
      if (!w.settled) {
        this.unsynced.push(w)
        this.unsyncedRecords += w.count
      }
    }
    this.lastWrite = performance.now()
    if (this.unsyncedRecords >= SYNC_EVERY_RECORDS) this.startSync()
    else this.arm()
  }

  private arm(): void {
    if (this.timer || !this.unsynced.length) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (performance.now() - this.lastWrite >= SYNC_AFTER_PAUSE_MS) this.startSync()
      else this.arm()
    }, SYNC_AFTER_PAUSE_MS)
  }

  private startSync(): void {
    const p = this.native
    if (this.syncing || !p) return
    if (!this.unsynced.length) {
      this.syncWanted = false
      return
    }
    this.syncWanted = false
    this.confirming = this.unsynced
    this.unsynced = []
    this.unsyncedRecords = 0
    this.syncing = this.flush(p).finally(() => {
      this.syncing = undefined
      this.pump()
      if (this.syncWanted || this.closed) this.startSync()
    })
  }

  private async flush(p: RdProducer): Promise<void> {
    for (;;) {
      try {
        await call((cb) => p.flush(FLUSH_TIMEOUT_MS, cb))
        break
      } catch (e) {
        if (errorCode(e) !== Code.TIMED_OUT || this.closed) {
          this.failAll(this.ctx.error('waiting for written records', e))
          return
        }
        // Kafka is unreachable: librdkafka retries until message.timeout.ms, then reports failures.
      }
    }
    // A failure report dispatched together with the flush callback runs in this turn of the loop.
    await new Promise<void>((r) => setImmediate(r))
    const done = this.confirming
    this.confirming = []
    for (const w of done) settle(w)
  }

  /** Rejects every write that librdkafka has (some of) and that no sync confirmed. */
  private failAll(e: BrokerError): void {
    for (const w of this.confirming) settle(w, e)
    for (const w of this.unsynced) settle(w, e)
    this.unsynced = []
    this.unsyncedRecords = 0
    const head = this.queue[0]
    if (head && head.next > 0) settle(head, e)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    await this.connecting?.catch(() => {})
    while (this.queue.length || this.unsynced.length || this.syncing) {
      this.startSync()
      await (this.syncing ?? new Promise((r) => setTimeout(r, 5)))
    }
    if (this.native) await call((cb) => this.native!.disconnect(10_000, cb)).catch(() => {})
  }
}
