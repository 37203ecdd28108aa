/**
 * Batch fetching from a librdkafka consumer without parking libuv's thread
 * pool: `consume(n)` runs with a zero timeout for the first message (so it only
 * drains what librdkafka has already prefetched), and an empty queue is waited
 * on through librdkafka's queue-non-empty callback. Shared by the group
 * consumer and the partition reader.
 */

import type { Message, MessageHeader } from '@confluentinc/kafka-javascript'
import type { BrokerRecord, Headers, RecordBatch } from '@stream-app/core'
import { NO_HEADERS, tpKey } from '@stream-app/core/runtime'
import type { ClientContext, RdConsumer } from './client.ts'

/**
 * Prefetch bounds: what librdkafka may hold in memory ahead of fetch() (20k
 * records per partition, 16 MB in all). A partition over a bound gets its next
 * fetch postponed by fetch.queue.backoff.ms, 1 s by default: with these bounds
 * a busy partition then sat idle most of each second and a passthrough ran at
 * half the rate of a plain librdkafka loop (whose default bound, 100k records
 * per partition, the benchmark never reached). Rechecking every 20 ms keeps
 * the bounds and the rate.
 */
export const consumerDefaults: Record<string, unknown> = {
  'enable.auto.commit': false,
  'enable.auto.offset.store': false,
  'queued.max.messages.kbytes': 16_384,
  'queued.min.messages': 20_000,
  'fetch.wait.max.ms': 100,
  'fetch.queue.backoff.ms': 20,
}

export class Fetcher {
  consumer!: RdConsumer
  private nonEmpty = true
  private waiter: (() => void) | undefined
  private woken = false
  /** Waits of waitFor(), ended by wakeup(). */
  private readonly wakeWaits = new Set<() => void>()
  closed = false

  constructor(protected readonly ctx: ClientContext) {}

  /** librdkafka calls this (through the binding) when the consumer queue gets something. */
  readonly onQueueNonEmpty = (): void => {
    this.nonEmpty = true
    this.waiter?.()
  }

  /** One native consume call: what is queued now, up to max messages. */
  consumeNow(max: number): Promise<Message[]> {
    this.nonEmpty = false
    return new Promise((resolve, reject) =>
      this.consumer.consume(max, (err, messages) => (err ? reject(err) : resolve(messages))),
    )
  }

  /** Waits until the queue gets something, wakeup() is called, or ms pass. */
  async waitForData(ms: number): Promise<void> {
    if (this.nonEmpty || this.woken || this.closed || ms <= 0) return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.waiter = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiter = done
    })
  }

  /**
   * Waits until `p` settles, wakeup() is called (the flag stays for takeWoken), or ms pass: a
   * fetch waiting out a rebalance or another pull still answers a wakeup at once.
   */
  async waitFor(p: Promise<unknown>, ms: number): Promise<void> {
    if (this.woken || this.closed || ms <= 0) return
    let wake!: () => void
    const woken = new Promise<void>((resolve) => {
      wake = resolve
    })
    this.wakeWaits.add(wake)
    const timer = setTimeout(wake, ms)
    try {
      await Promise.race([p.then(noop, noop), woken])
    } finally {
      clearTimeout(timer)
      this.wakeWaits.delete(wake)
    }
  }

  /** Takes (and clears) the wakeup flag. */
  takeWoken(): boolean {
    const w = this.woken
    this.woken = false
    return w
  }

  wakeup(): void {
    this.woken = true
    this.waiter?.()
    for (const wake of this.wakeWaits) wake()
  }
}

const noop = (): void => {}

/** Groups consumed messages into per-partition batches, oldest first. */
export function toBatches(messages: readonly Message[]): RecordBatch[] {
  const by = new Map<string, { topic: string; partition: number; records: BrokerRecord[] }>()
  let b: { topic: string; partition: number; records: BrokerRecord[] } | undefined
  for (const m of messages) {
    // Messages come in runs of one partition: look the batch up only when the partition changes.
    if (b === undefined || b.partition !== m.partition || b.topic !== m.topic) {
      const k = tpKey(m.topic, m.partition)
      b = by.get(k)
      if (!b) by.set(k, (b = { topic: m.topic, partition: m.partition, records: [] }))
    }
    b.records.push(toRecord(m))
  }
  return [...by.values()]
}

/** The binding's message becomes the record in place (one object per record fewer on the hot path). */
const toRecord = (m: Message): BrokerRecord => {
  const r = m as unknown as { -readonly [K in keyof BrokerRecord]: BrokerRecord[K] }
  const key = m.key
  if (key === undefined) r.key = null
  else if (typeof key === 'string') r.key = Buffer.from(key)
  if (m.value === undefined) r.value = null
  if (m.timestamp === undefined) r.timestamp = 0
  r.headers = m.headers?.length ? fromHeaders(m.headers) : NO_HEADERS
  return r
}

function fromHeaders(hs: readonly MessageHeader[]): Headers {
  const out: Record<string, Uint8Array> = {}
  for (const h of hs) for (const k in h) out[k] = typeof h[k] === 'string' ? Buffer.from(h[k]) : h[k]!
  return out
}

/** Splits batches so that at most max records are returned; the rest is kept for the next fetch. */
export function takeBatches(queue: RecordBatch[], max: number): RecordBatch[] {
  const out: RecordBatch[] = []
  let budget = max
  while (queue.length && budget > 0) {
    const b = queue[0]!
    if (b.records.length <= budget) {
      out.push(b)
      budget -= b.records.length
      queue.shift()
    } else {
      out.push({ topic: b.topic, partition: b.partition, records: b.records.slice(0, budget) })
      queue[0] = { topic: b.topic, partition: b.partition, records: b.records.slice(budget) }
      budget = 0
    }
  }
  return out
}
