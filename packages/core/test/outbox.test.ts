/**
 * The outbox against a producer whose acknowledgements take time (as Kafka's
 * do): a commit's flush is not starved by a steady stream of new sends, and
 * too many unacknowledged records hold producers back until half are acked;
 * a failed write fails the next flush, unless it holds a record nothing
 * replays (a channel value): that batch is kept and written again.
 */
import { describe, expect, it } from 'vitest'
import { BrokerError } from '../src/index.ts'
import type { ProduceRecord, Producer, RecordMetadata } from '../src/ports/index.ts'
import { MemoryBroker } from '../src/runtime/index.ts'
import { Outbox } from '../src/runtime/internal/outbox.ts'

/** The memory broker's producer, acknowledging each batch only after `ms`. */
class SlowProducer implements Producer {
  acked = 0
  constructor(
    private readonly inner: Producer,
    private readonly ms: number,
  ) {}
  async send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]> {
    await new Promise((r) => setTimeout(r, this.ms))
    const meta = await this.inner.send(records)
    this.acked += records.length
    return meta
  }
  async close(): Promise<void> {}
}

const rec = (i: number): ProduceRecord => ({
  topic: 't',
  partition: 0,
  key: null,
  value: Buffer.from(String(i)),
  timestamp: 0,
})

async function slowProducer(ms: number) {
  const broker = new MemoryBroker()
  await broker.ensureTopics([{ name: 't', partitions: 1 }])
  return new SlowProducer(broker.producer(), ms)
}

describe('outbox', () => {
  it('flush resolves once what was sent before it is acknowledged, while sends go on', async () => {
    const producer = await slowProducer(20)
    const outbox = new Outbox(producer, () => {})
    let i = 0
    const pushing = setInterval(() => outbox.push(rec(i++)), 1)
    try {
      for (let n = 0; n < 50; n++) outbox.push(rec(i++))
      const before = i
      const flushed = await Promise.race([
        outbox.flush().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 2000)),
      ])
      expect(flushed).toBe(true)
      expect(producer.acked).toBeGreaterThanOrEqual(before)
    } finally {
      clearInterval(pushing)
    }
  })

  it('holds producers back while too many records are unacknowledged, and lets go at half', async () => {
    const producer = await slowProducer(50)
    const outbox = new Outbox(producer, () => {}, { maxBatch: 100, maxInflight: 1000 })
    expect(outbox.pressure()).toBeUndefined()
    for (let n = 0; n < 1200; n++) outbox.push(rec(n))
    await new Promise((r) => setImmediate(r))
    const held = outbox.pressure()
    expect(held).toBeInstanceOf(Promise)
    await held
    expect(producer.acked).toBeGreaterThanOrEqual(700)
    expect(outbox.pressure()).toBeUndefined()
    await outbox.flush()
    expect(producer.acked).toBe(1200)
  })

  it('bounds unacknowledged bytes too: a few large records are enough to hold back', async () => {
    const producer = await slowProducer(50)
    const outbox = new Outbox(producer, () => {}, {
      maxBatch: 100,
      maxInflight: 1_000_000,
      maxInflightBytes: 100_000,
    })
    const big = (i: number): ProduceRecord => ({ ...rec(i), value: Buffer.alloc(10_000) })
    for (let n = 0; n < 12; n++) outbox.push(big(n))
    await new Promise((r) => setImmediate(r))
    const held = outbox.pressure()
    expect(held).toBeInstanceOf(Promise)
    await held
    expect(outbox.pressure()).toBeUndefined()
    await outbox.flush()
    expect(producer.acked).toBe(12)
  })

  it('a failed write of replayable records fails the next flush (the commit then rewinds); the writes around it count once', async () => {
    const { producer: writing, writes, failNext } = await failingWriter()
    const errors: unknown[] = []
    // A retriable failure: a send() would be retried; a write's records are gone by then.
    let retried = 0
    const retry = <T>(send: () => Promise<T>) => {
      retried++
      return send()
    }
    const outbox = new Outbox(writing, (e) => errors.push(e), { maxBatch: 10, retry })
    for (let n = 0; n < 25; n++) outbox.push(rec(n), true)
    await outbox.flush()
    expect(writes).toEqual([10, 10, 5])
    failNext()
    for (let n = 0; n < 10; n++) outbox.push(rec(n), true)
    await expect(outbox.flush()).rejects.toThrow('broker said no')
    expect(errors.map(String)).toEqual(['BrokerError: broker said no'])
    expect(retried).toBe(0)
    for (let n = 0; n < 3; n++) outbox.push(rec(n), true)
    await outbox.flush()
    // Acknowledged records only: the failed write's ten are not counted (nor written again from here).
    expect(outbox.sent).toBe(28)
    expect(outbox.perTopic.get('t')).toBe(28)
    expect(outbox.pressure()).toBeUndefined()
  })

  it('a batch holding a record nothing replays (a channel value) is kept and written again', async () => {
    const { producer: writing, writes, failNext } = await failingWriter()
    let retried = 0
    const retry = <T>(send: () => Promise<T>) => {
      retried++
      return send()
    }
    const outbox = new Outbox(writing, () => {}, { maxBatch: 10, retry })
    failNext()
    for (let n = 0; n < 4; n++) outbox.push(rec(n), true)
    outbox.push(rec(4))
    await outbox.flush()
    expect(retried).toBe(1)
    expect(writes).toEqual([5])
    expect(outbox.sent).toBe(5)
  })
})

/** A producer whose write() hands records to the memory broker after 5 ms, or fails once when told to. */
async function failingWriter() {
  const broker = new MemoryBroker()
  await broker.ensureTopics([{ name: 't', partitions: 1 }])
  const inner = broker.producer()
  let fail = false
  const writes: number[] = []
  const producer: Producer = {
    send: (records) => inner.send(records),
    write: async (records) => {
      await new Promise((r) => setTimeout(r, 5))
      if (fail) {
        fail = false
        throw new BrokerError('broker said no', true)
      }
      writes.push(records.length)
      await inner.send(records)
    },
    close: async () => {},
  }
  return {
    producer,
    writes,
    failNext: () => {
      fail = true
    },
  }
}
