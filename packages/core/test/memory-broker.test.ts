/**
 * The memory:// broker over a long run: it forgets what every consumer has
 * committed, compacts changelogs, and keeps what someone may still read. A
 * worker restarted on the same broker still recovers its table exactly.
 */
import { describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'
import type { ProduceRecord } from '../src/ports/index.ts'
import { MemoryBroker, startMemoryRuntime } from '../src/runtime/index.ts'

const records = (topic: string, n: number, key: (i: number) => string | null = () => null): ProduceRecord[] =>
  Array.from({ length: n }, (_, i) => {
    const k = key(i)
    return {
      topic,
      partition: 0,
      key: k === null ? null : Buffer.from(k),
      value: Buffer.from(String(i)),
      timestamp: 0,
    }
  })

const listener = { onAssign: async () => {}, onRevoke: async () => {} }

describe('memory:// retention', () => {
  it('drops what every group of the topic has committed, and keeps what a group or reader still needs', async () => {
    const b = new MemoryBroker()
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    b.append(records('t', 20_000))
    const fast = b.groupConsumer({ groupId: 'fast', topics: ['t'], listener })
    const slow = b.groupConsumer({ groupId: 'slow', topics: ['t'], listener })
    await fast.start()
    await slow.start()
    const reader = b.reader([{ topic: 't', partition: 0, offset: 15_000 }])
    await fast.commit([{ topic: 't', partition: 0, offset: 20_000 }])
    // 'slow' has not committed: it may still read from the start.
    expect((await b.beginningOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(0)
    await slow.commit([{ topic: 't', partition: 0, offset: 10_000 }])
    expect((await b.beginningOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(10_000)
    // The reader at 15,000 holds the rest back until it closes.
    await slow.commit([{ topic: 't', partition: 0, offset: 20_000 }])
    expect((await b.beginningOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(15_000)
    const rest = await reader.fetch({ maxRecords: 10, maxWaitMs: 0 })
    expect(rest[0]!.records[0]!.offset).toBe(15_000)
    await reader.close()
    await fast.commit([{ topic: 't', partition: 0, offset: 20_000 }])
    // Everything consumed: the log is empty and offsets go on where they were.
    expect((await b.beginningOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(20_000)
    expect((await b.endOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(20_000)
    const [meta] = b.append(records('t', 1))
    expect(meta!.offset).toBe(20_000)
    expect((await fast.fetch({ maxRecords: 10, maxWaitMs: 0 }))[0]!.records.map((r) => r.offset)).toEqual([
      20_000,
    ])
    await fast.close()
    await slow.close()
  })

  it('keeps a topic nobody consumes whole', async () => {
    const b = new MemoryBroker()
    await b.ensureTopics([{ name: 'sink', partitions: 1 }])
    b.append(records('sink', 30_000))
    expect((await b.beginningOffsets([{ topic: 'sink', partition: 0 }]))[0]!.offset).toBe(0)
  })

  it('keeps a topic no running group reads as bytes, and reads it back record for record', async () => {
    const b = new MemoryBroker()
    await b.ensureTopics([
      { name: 'in', partitions: 1 },
      { name: 'sink', partitions: 2 },
    ])
    const running = b.groupConsumer({ groupId: 'app', topics: ['in'], listener })
    await running.start()
    // 10,000 records per partition (more than two chunks), keys, null values, headers, big values
    const sent: ProduceRecord[] = Array.from({ length: 20_000 }, (_, i) => ({
      topic: 'sink',
      partition: i % 2,
      key: i % 3 === 0 ? null : Buffer.from(`k${i}`),
      value: i % 7 === 0 ? null : Buffer.from(i % 1000 === 1 ? 'v'.repeat(600_000) : `value ${i} é`),
      timestamp: 1_700_000_000_000 + i,
      ...(i % 5 === 0 ? { headers: { h: Buffer.from(`h${i}`) } } : {}),
    }))
    const meta = []
    for (let i = 0; i < sent.length; i += 1000) meta.push(...b.append(sent.slice(i, i + 1000)))
    expect(meta.map((m) => m.offset)).toEqual(sent.map((_, i) => Math.floor(i / 2)))
    const topic = b.topic('sink')!
    expect(topic.logs.map((l) => l.length)).toEqual([0, 0])
    expect(topic.cold.every((c) => c !== undefined)).toBe(true)
    const show = (r: {
      offset?: number
      key: Uint8Array | null
      value: Uint8Array | null
      headers?: object
      timestamp: number
    }) => ({
      key: r.key === null ? null : Buffer.from(r.key).toString(),
      value: r.value === null ? null : Buffer.from(r.value).toString(),
      headers: Object.fromEntries(
        Object.entries(r.headers ?? {}).map(([k, v]) => [k, Buffer.from(v).toString()]),
      ),
      timestamp: r.timestamp,
    })
    for (const p of [0, 1]) {
      const reader = b.reader([{ topic: 'sink', partition: p, offset: 0 }])
      const got = (await reader.fetch({ maxRecords: 100_000, maxWaitMs: 0 })).flatMap((x) => x.records)
      await reader.close()
      const want = sent.filter((r) => r.partition === p)
      expect(got.map((r) => r.offset)).toEqual(want.map((_, i) => i))
      expect(got.map(show)).toEqual(want.map(show))
      // from the middle, in small fetches
      expect(b.read('sink', p, 4_095, 3).map((r) => r.offset)).toEqual([4_095, 4_096, 4_097])
    }
    expect(await b.beginningOffsets([{ topic: 'sink', partition: 0 }])).toEqual([
      { topic: 'sink', partition: 0, offset: 0 },
    ])
    expect(await b.endOffsets([{ topic: 'sink', partition: 1 }])).toEqual([
      { topic: 'sink', partition: 1, offset: 10_000 },
    ])
    // A group that comes to read it later gets everything, then records written after it joined.
    const late = b.groupConsumer({ groupId: 'late', topics: ['sink'], listener })
    await late.start()
    const [after] = b.append([
      { topic: 'sink', partition: 0, key: null, value: Buffer.from('after'), timestamp: 5 },
    ])
    expect(after!.offset).toBe(10_000)
    expect(topic.logs[0]!.length).toBe(1)
    const seen: number[] = []
    for (;;) {
      const batches = await late.fetch({ maxRecords: 7_000, maxWaitMs: 0 })
      if (batches.length === 0) break
      for (const x of batches) if (x.partition === 0) seen.push(...x.records.map((r) => r.offset))
    }
    expect(seen).toEqual(Array.from({ length: 10_001 }, (_, i) => i))
    // Once it has committed everything, the bytes go too (all but the last chunk), and offsets go on.
    await late.commit([
      { topic: 'sink', partition: 0, offset: 10_001 },
      { topic: 'sink', partition: 1, offset: 10_000 },
    ])
    await late.close()
    expect((await b.beginningOffsets([{ topic: 'sink', partition: 1 }]))[0]!.offset).toBeGreaterThan(0)
    expect(b.read('sink', 0, 10_000, 5).map((r) => Buffer.from(r.value!).toString())).toEqual(['after'])
    const [next] = b.append([
      { topic: 'sink', partition: 0, key: null, value: Buffer.from('next'), timestamp: 6 },
    ])
    expect(next!.offset).toBe(10_001)
    expect(b.read('sink', 0, 10_000, 5).map((r) => Buffer.from(r.value!).toString())).toEqual([
      'after',
      'next',
    ])
    await running.close()
  })

  it('keeps records written before any group runs as objects (they are read soon)', async () => {
    const b = new MemoryBroker()
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    b.append(records('t', 100))
    expect(b.topic('t')!.logs[0]!.length).toBe(100)
    expect(b.topic('t')!.cold[0]).toBeUndefined()
  })

  it('compacts a compacted topic to the latest record per key, and readers skip the gaps', async () => {
    const b = new MemoryBroker()
    await b.ensureTopics([{ name: 'cl', partitions: 1, compacted: true }])
    b.append(records('cl', 25_000, (i) => `k${i % 10}`))
    const reader = b.reader([{ topic: 'cl', partition: 0, offset: 0 }])
    const got = (await reader.fetch({ maxRecords: 100_000, maxWaitMs: 0 })).flatMap((x) => x.records)
    expect(got.length).toBeLessThan(25_000)
    const latest = new Map(got.map((r) => [Buffer.from(r.key!).toString(), Buffer.from(r.value!).toString()]))
    expect(latest).toEqual(new Map(Array.from({ length: 10 }, (_, k) => [`k${k}`, String(24_990 + k)])))
    expect((await b.endOffsets([{ topic: 'cl', partition: 0 }]))[0]!.offset).toBe(25_000)
    // A reader positioned inside a gap starts at the next record there is.
    const mid = b.reader([{ topic: 'cl', partition: 0, offset: 24_985 }])
    const after = (await mid.fetch({ maxRecords: 100, maxWaitMs: 0 })).flatMap((x) => x.records)
    expect(after[0]!.offset).toBeGreaterThanOrEqual(24_985)
    expect(after.at(-1)!.offset).toBe(24_999)
    await reader.close()
    await mid.close()
  })

  it('a worker restarted on the same broker recovers its table from the compacted changelog', async () => {
    const def = createApp({ id: 'long', commitInterval: '1h' })
      .topic('words', { value: Schema.String, partitions: 1 })
      .table('counts', { default: () => 0 })
      .agent('count', { from: 'words' }, async (words, ctx) => {
        for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
      }).definition
    const broker = new MemoryBroker()
    const w1 = await startMemoryRuntime(def, { broker })
    const words = w1.topicHandles.words!
    // Every key changed in each of several commits: the changelog grows past the compaction point.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 2000; i++) void words.send(`w${i}`)
      await w1.idle()
      await w1.commit()
    }
    await w1.stop()
    const changelog = await broker.beginningOffsets([{ topic: 'long-counts-changelog', partition: 0 }])
    const kept = broker.read('long-counts-changelog', 0, changelog[0]!.offset, 100_000)
    expect(kept.length).toBeLessThan(12_000)
    const w2 = await startMemoryRuntime(def, { broker })
    try {
      const counts = w2.ctx.tables as { counts: { get(k: string): number } }
      for (let k = 0; k < 2000; k++) expect(counts.counts.get(`w${k}`)).toBe(6)
      // The source topic was consumed and committed: most of it is gone.
      expect((await broker.beginningOffsets([{ topic: 'words', partition: 0 }]))[0]!.offset).toBeGreaterThan(
        0,
      )
    } finally {
      await w2.stop()
    }
  })
})
