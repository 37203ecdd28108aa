/**
 * Kafka's own producing paths (large batches, write() without delivery reports, refused records,
 * the outbox's ordering) and the partitioner against the Java client; the record fields, order
 * and the partition reader are in the conformance suite.
 */
import { BrokerError } from '@stream-app/core'
import { partitionForKey } from '@stream-app/core/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buf, drain, javaProbe, openBroker, text, uniq } from './helpers.ts'

describe('kafka:// produce and fetch', () => {
  let b: Awaited<ReturnType<typeof openBroker>>
  beforeAll(async () => {
    b = await openBroker()
  })
  afterAll(async () => {
    await b.close()
  })

  it('sends large batches without awaiting each record and acknowledges every one', async () => {
    const topic = uniq('pf-batch')
    await b.ensureTopics([{ name: topic, partitions: 4 }])
    const n = 20_000
    const records = Array.from({ length: n }, (_, i) => ({
      topic,
      partition: i % 4,
      key: buf(`k${i}`),
      value: buf(`value-${i}`),
      timestamp: Date.now(),
    }))
    const meta = await b.producer().send(records)
    expect(meta).toHaveLength(n)
    expect(meta.filter((m) => m.partition === 3).map((m) => m.offset)).toEqual(
      Array.from({ length: n / 4 }, (_, i) => i),
    )
    const ends = await b.endOffsets([0, 1, 2, 3].map((partition) => ({ topic, partition })))
    expect(ends.map((e) => e.offset)).toEqual([n / 4, n / 4, n / 4, n / 4])
  })

  it('write() resolves once every record is in the log, without a report per record, also under a steady stream', async () => {
    const topic = uniq('pf-write')
    await b.ensureTopics([{ name: topic, partitions: 4 }])
    const producer = b.producer()
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        topic,
        partition: (from + i) % 4,
        key: buf(`k${from + i}`),
        value: buf(`value-${from + i}`),
        timestamp: Date.now(),
      }))
    await producer.write!(batch(0, 20_000))
    const ends = () => b.endOffsets([0, 1, 2, 3].map((partition) => ({ topic, partition })))
    expect((await ends()).map((e) => e.offset)).toEqual([5_000, 5_000, 5_000, 5_000])
    // Writes that never pause (a sync holds them back while it runs) all land, each once, in order.
    const pending: Promise<void>[] = []
    for (let i = 0; i < 200; i++) {
      pending.push(producer.write!(batch(20_000 + i * 100, 100)))
      if (i % 50 === 25) producer.sync!()
      await new Promise((r) => setImmediate(r))
    }
    await Promise.all(pending)
    expect((await ends()).map((e) => e.offset)).toEqual([10_000, 10_000, 10_000, 10_000])
    const reader = b.reader([{ topic, partition: 2, offset: 0 }])
    const got = await drain(reader, 10_000)
    await reader.close()
    expect(got.map((r) => text(r.value))).toEqual(
      Array.from({ length: 10_000 }, (_, i) => `value-${i * 4 + 2}`),
    )
  })

  it('a record the broker refuses fails its write with one clear line; later writes land', async () => {
    const topic = uniq('pf-refused')
    await b.ensureTopics([{ name: topic, partitions: 1, config: { 'max.message.bytes': '2000' } }])
    const rec = (value: Buffer) => ({ topic, partition: 0, key: null, value, timestamp: Date.now() })
    const producer = b.producer()
    const err = await producer.write!([rec(buf('small')), rec(Buffer.alloc(10_000, 'x'))]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as Error).message).toMatch(new RegExp(`${topic}\\[0\\].*too large`, 'i'))
    expect((err as Error).message).not.toContain('\n')
    // Kafka refuses the whole request the big record went in (the small one may be lost with it),
    // and a failure report does not say which write it belongs to: every write not yet confirmed
    // when a report arrives fails, one written while the reports of that failure still come in too.
    let attempts = 0
    for (;;) {
      attempts++
      const e = await producer.write!([rec(buf('after'))]).then(
        () => undefined,
        (e: unknown) => e,
      )
      if (e === undefined) break
      expect((e as Error).message).toMatch(/too large/)
      expect(attempts).toBeLessThan(3)
    }
    const [end] = await b.endOffsets([{ topic, partition: 0 }])
    const reader = b.reader([{ topic, partition: 0, offset: 0 }])
    const values = (await drain(reader, end!.offset)).map((r) => text(r.value))
    await reader.close()
    expect(values.at(-1)).toBe('after')
    expect(values.every((v) => v === 'small' || v === 'after')).toBe(true)
  })

  it("core's partitionForKey picks the partition Kafka's Java producer picks", () => {
    const keys = [
      'a',
      'foo',
      'customer-42',
      'hello world',
      'ünïcödé',
      '',
      'x'.repeat(1000),
      '0123456789abcdef',
    ]
    for (let i = 0; i < 40; i++) keys.push(`key-${i * 7919}`)
    const hex = keys.map((k) => Buffer.from(k, 'utf8').toString('hex'))
    const out = javaProbe(['partition', '8,3,1,12', ...hex.map((h) => `h:${h}`)])
    const java = new Map<string, number>()
    for (const line of out.trim().split('\n')) {
      const [n, h, p] = line.split('\t')
      java.set(`${n}/${h}`, Number(p))
    }
    let checked = 0
    for (const n of [8, 3, 1, 12])
      for (const h of hex) {
        expect(partitionForKey(Buffer.from(h, 'hex'), n), `key ${h} / ${n}`).toBe(java.get(`${n}/${h}`))
        checked++
      }
    expect(checked).toBe(keys.length * 4)
  })
})
