/**
 * Records from other producers (issue 23), on two workers sharing a memory
 * broker: a librdkafka producer (CRC32 of the key) next to the default murmur2
 * key routing stops the agent with an error naming the likely cause; the
 * topic's partitioner: 'crc32' makes routing match; a table with
 * partitioning: 'event' keeps each row in its event's partition (Faust's
 * table test shape: each partition p carries a sequence keyed by p, sent
 * with explicit partitions).
 */
import { describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'
import { crc32PartitionForKey } from '../src/ports/partitioner.ts'
import {
  MemoryBroker,
  partitionForKey,
  startMemoryRuntime,
  type WorkerRuntime,
} from '../src/runtime/index.ts'
import { tablesOf } from './helpers.ts'

const N = 4
const until = async (what: string, check: () => boolean, state: () => unknown, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state())}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Keys whose CRC32 and murmur2 partitions differ: where the two partitioners disagree. */
const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
  .filter((k) => crc32PartitionForKey(Buffer.from(k), N) !== partitionForKey(Buffer.from(k), N))
  .slice(0, 16)

const record = (topic: string, key: string, partition: number, n: number) => ({
  topic,
  partition,
  key: Buffer.from(key) as Uint8Array,
  value: Buffer.from(JSON.stringify(n)) as Uint8Array,
  timestamp: Date.now(),
})

async function twoWorkers(def: Parameters<typeof startMemoryRuntime>[0], broker: MemoryBroker) {
  const a = await startMemoryRuntime(def, { broker, closeBroker: false })
  const b = await startMemoryRuntime(def, { broker, closeBroker: false })
  // Both hold partitions before anything is sent (the group has rebalanced to two members).
  await until(
    'the partitions to be split',
    () => a.sensor.snapshot().tables[0]!.held.length < N,
    () => a.sensor.snapshot().tables,
  )
  return [a, b] as const
}

const stopAll = async (ws: readonly WorkerRuntime[], broker: MemoryBroker) => {
  for (const w of ws) await w.stop()
  await broker.close()
}

describe('records from other producers', () => {
  it("stops the agent with an error naming librdkafka's partitioner when CRC32 explains the event's partition", async () => {
    const broker = new MemoryBroker()
    const def = createApp({ id: 'rdk1', topicPartitions: N })
      .topic('events', { key: Schema.String, value: Schema.Number })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'events' }, async (events, ctx) => {
        for await (const e of events.events()) ctx.tables.sums.update(e.key!, (v) => v + e.value)
      }).definition
    const ws = await twoWorkers(def, broker)
    try {
      await broker
        .producer()
        .send(keys.map((k) => record('events', k, crc32PartitionForKey(Buffer.from(k), N), 1)))
      const stopped = () => ws.flatMap((w) => w.sensor.snapshot().agents).filter((a) => a.stopped)
      await until(
        'an agent to stop',
        () => stopped().length > 0,
        () => ws.map((w) => w.sensor.snapshot().agents),
      )
      const s = stopped()[0]!
      expect(s.state).toBe('failed')
      expect(s.stopped).toMatchObject({
        topic: 'events',
        partition: expect.any(Number),
        offset: expect.any(Number),
      })
      expect(s.stopped!.reason).toMatch(
        /the producer uses librdkafka's default partitioner .*partitioner: 'crc32'.*partitioning: 'event'/,
      )
    } finally {
      await stopAll(ws, broker)
    }
  })

  it("partitioner: 'crc32' on the topic: key routing and the app's own keyed sends follow CRC32", async () => {
    const broker = new MemoryBroker()
    const wrong: string[] = []
    const def = createApp({ id: 'rdk2', topicPartitions: N })
      .topic('events', { key: Schema.String, value: Schema.Number, partitioner: 'crc32' })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'events' }, async (events, ctx) => {
        for await (const e of events.events()) {
          if (e.partition !== crc32PartitionForKey(Buffer.from(e.key!), N)) wrong.push(e.key!)
          ctx.tables.sums.update(e.key!, (v) => v + e.value)
        }
      }).definition
    const ws = await twoWorkers(def, broker)
    try {
      // Half from a librdkafka producer, half sent by the app itself with a key only.
      await broker
        .producer()
        .send(keys.map((k) => record('events', k, crc32PartitionForKey(Buffer.from(k), N), 1)))
      for (const k of keys) await ws[0].topicHandles.events!.send(2, { key: k })
      for (const w of ws) await w.idle()
      for (const w of ws) await w.idle()
      expect(ws.flatMap((w) => w.sensor.snapshot().agents).filter((a) => a.stopped)).toEqual([])
      expect(wrong).toEqual([])
      for (const k of keys) {
        const holder = ws.find((w) =>
          w.sensor.snapshot().tables[0]!.held.includes(crc32PartitionForKey(Buffer.from(k), N)),
        )!
        expect(tablesOf<{ get(k: string): number }>(holder).sums!.get(k)).toBe(3)
        // A query for the key goes to the worker holding its CRC32 partition.
        expect(await ws[0].ownerUrl('sums', k)).toBe(holder === ws[0] ? undefined : holder.url)
      }
    } finally {
      await stopAll(ws, broker)
    }
  })

  it("partitioning: 'event': each worker sums the sequence of each partition it reads, one key per partition", async () => {
    const broker = new MemoryBroker()
    const def = createApp({ id: 'rdk3', topicPartitions: N })
      .topic('seq', { key: Schema.String, value: Schema.Number })
      .table('totals', { default: () => 0, partitioning: 'event' })
      .agent('sum', { from: 'seq' }, async (seq, ctx) => {
        for await (const e of seq.events()) ctx.tables.totals.update(e.key!, (v) => v + e.value)
      }).definition
    const ws = await twoWorkers(def, broker)
    const COUNT = 50
    try {
      const holderOf = (p: number) => ws.find((w) => w.sensor.snapshot().tables[0]!.held.includes(p))!
      // Partition p's key, chosen so that murmur2 puts it on the other worker: key routing would refuse it.
      const keyOf = new Map<number, string>()
      for (let p = 0; p < N; p++)
        for (let i = 0; !keyOf.has(p); i++)
          if (holderOf(partitionForKey(Buffer.from(`p${p}-${i}`), N)) !== holderOf(p))
            keyOf.set(p, `p${p}-${i}`)
      const recs = []
      for (let p = 0; p < N; p++)
        for (let i = 1; i <= COUNT; i++) recs.push(record('seq', keyOf.get(p)!, p, i))
      await broker.producer().send(recs)
      for (const w of ws) await w.idle()
      for (const w of ws) await w.idle()
      expect(ws.flatMap((w) => w.sensor.snapshot().agents).filter((a) => a.stopped)).toEqual([])
      for (let p = 0; p < N; p++)
        expect(tablesOf<{ get(k: string): number }>(holderOf(p)).totals!.get(keyOf.get(p)!)).toBe(
          (COUNT * (COUNT + 1)) / 2,
        )
    } finally {
      await stopAll(ws, broker)
    }
  })
})
