/**
 * At-least-once delivery on the memory broker, driven through the real runtime:
 * what is committed, what a restart redelivers, backpressure, clean shutdown.
 */
import { describe, expect, it } from 'vitest'
import {
  type AppDefinition,
  createApp,
  type GroupConsumer,
  type GroupConsumerOptions,
  Schema,
} from '../src/index.ts'
import { MemoryBroker, MemoryStore, startMemoryRuntime, type WorkerRuntime } from '../src/runtime/index.ts'
import { running } from './helpers.ts'

const start = (def: AppDefinition, broker: MemoryBroker, store = new MemoryStore()): Promise<WorkerRuntime> =>
  startMemoryRuntime(def, { broker, store, closeBroker: false })

const committedOf = async (broker: MemoryBroker, group: string, topic: string) => {
  const c = broker.groupConsumer({
    groupId: group,
    topics: [],
    listener: { onAssign: async () => {}, onRevoke: async () => {} },
  })
  return (await c.committed([{ topic, partition: 0 }]))[0]?.offset
}

/** A broker that drops the group's offset commits while `losing`: a worker that crashed before committing. */
class LosingBroker extends MemoryBroker {
  losing = false
  override groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    const c = super.groupConsumer(options)
    const commit = c.commit.bind(c)
    c.commit = (offsets) => (this.losing ? Promise.resolve() : commit(offsets))
    return c
  }
}

describe('at-least-once delivery', () => {
  it('commits only offsets whose messages were processed (the handler asked for the next)', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const seen: number[] = []
    const def = createApp({ id: 'alo', commitInterval: '1h' })
      .topic('in', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const n of s) {
          seen.push(n)
          if (n === 5) await gate
        }
      }).definition
    const broker = new MemoryBroker()
    const w = await start(def, broker)
    const topic = w.topicHandles.in!
    for (let i = 0; i < 10; i++) await topic.send(i)
    while (seen.length < 6) await new Promise((r) => setTimeout(r, 1))
    await w.commit()
    expect(await committedOf(broker, 'alo', 'in')).toBe(5) // 0..4 processed, 5 in hand
    release()
    await w.idle()
    await w.commit()
    expect(await committedOf(broker, 'alo', 'in')).toBe(10)
    await w.stop()
  })

  it('a clean stop commits, and a restart processes nothing twice', async () => {
    const seen: number[] = []
    const def = createApp({ id: 'restart', commitInterval: '1h' })
      .topic('in', { value: Schema.Number, partitions: 3 })
      .table('count', { default: () => 0 })
      .agent('a', { from: 'in' }, async (s, ctx) => {
        for await (const n of s) {
          seen.push(n)
          ctx.tables.count.update('all', (c) => c + 1)
        }
      }).definition
    const broker = new MemoryBroker()
    const w1 = await start(def, broker)
    for (let i = 0; i < 100; i++) await w1.topicHandles.in!.send(i, { key: `k${i}` })
    await w1.idle()
    await w1.stop()
    const w2 = await start(def, broker)
    // state came back from the changelog
    expect((w2.ctx.tables as Record<string, { get: (k: string) => number }>).count!.get('all')).toBe(100)
    for (let i = 100; i < 110; i++) await w2.topicHandles.in!.send(i, { key: `k${i}` })
    await w2.idle()
    await w2.stop()
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 110 }, (_, i) => i))
  })

  it('after a crash (no final commit) redelivers what was not committed, never loses', async () => {
    const seen: number[] = []
    const def = createApp({ id: 'crashy', commitInterval: '1h' })
      .topic('in', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const n of s) seen.push(n)
      }).definition
    const broker = new LosingBroker()
    const w1 = await start(def, broker)
    for (let i = 0; i < 10; i++) await w1.topicHandles.in!.send(i)
    await w1.idle()
    await w1.commit()
    for (let i = 10; i < 20; i++) await w1.topicHandles.in!.send(i)
    await w1.idle()
    // simulate a crash: the worker's last commit never reaches the group
    broker.losing = true
    await w1.stop()
    broker.losing = false
    const w2 = await start(def, broker)
    await w2.idle()
    await w2.stop()
    expect(seen.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(seen.slice(20)).toEqual(Array.from({ length: 10 }, (_, i) => i + 10)) // redelivered, not lost
  })

  it('a slow agent pauses the fetch instead of buffering everything (bounded memory)', async () => {
    let processed = 0
    const def = createApp({ id: 'bp' })
      .topic('in', { value: Schema.Number, partitions: 2 })
      .agent('slow', { from: 'in' }, async (s) => {
        for await (const _ of s) {
          processed++
          if (processed % 100 === 0) await new Promise((r) => setTimeout(r, 1))
        }
      }).definition
    const broker = new MemoryBroker()
    await broker.ensureTopics([{ name: 'in', partitions: 2 }])
    const n = 60_000
    broker.append(
      Array.from({ length: n }, (_, i) => ({
        topic: 'in',
        partition: i % 2,
        key: null,
        value: Buffer.from(String(i)),
        timestamp: 0,
      })),
    )
    const w = await start(def, broker)
    const agent = running(w).agents.get('slow')!
    let maxBuffered = 0
    while (processed < n) {
      maxBuffered = Math.max(maxBuffered, agent.buffered)
      await new Promise((r) => setTimeout(r, 2))
    }
    await w.stop()
    // capacity 10k plus at most one fetch (5k) in flight, never the whole 60k
    expect(maxBuffered).toBeGreaterThan(0)
    expect(maxBuffered).toBeLessThanOrEqual(15_000)
  })
})

describe('tables without agents', () => {
  it('an app whose tables are written only by timers or routes recovers them (its leader owns every partition)', async () => {
    const def = createApp({ id: 'no-agents', commitInterval: '1h' })
      .table('settings', { default: () => '' })
      .timer('noop', { every: '1h' }, () => {}).definition
    const broker = new MemoryBroker()
    const w1 = await start(def, broker)
    const t1 = (w1.ctx.tables as Record<string, { set: (k: string, v: string) => void }>).settings!
    for (let i = 0; i < 50; i++) t1.set(`k${i}`, `v${i}`)
    await w1.stop()
    const w2 = await start(def, broker)
    const t2 = (w2.ctx.tables as Record<string, { get: (k: string) => string; size: number }>).settings!
    expect(t2.size).toBe(50)
    expect(t2.get('k7')).toBe('v7')
    await w2.stop()
  })
})
