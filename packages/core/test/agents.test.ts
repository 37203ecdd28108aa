import { afterEach, describe, expect, it } from 'vitest'
import type { AppDefinition } from '../src/definition/definition.ts'
import type { Registry } from '../src/definition/types.ts'
import { createApp, Schema, type TestWorker } from '../src/index.ts'
import { portsLayer } from '../src/runtime/entry.ts'
import {
  launch,
  MemoryBroker,
  MemoryStore,
  makeLogger,
  resolveConfig,
  startRuntime,
} from '../src/runtime/index.ts'

const workers: TestWorker<Registry>[] = []
const track = <W extends TestWorker<Registry>>(w: W): W => {
  workers.push(w)
  return w
}
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
})

/** What app.test() starts (test clock at 0, restarts not waiting out their backoff), logging error lines to `lines`. */
async function testRuntime(def: AppDefinition, lines: string[]) {
  const rt = await launch(def, {
    config: resolveConfig(def.config, { broker: 'memory://', store: 'memory://', web: { enabled: false } }),
    log: makeLogger({ level: 'error', write: (l) => lines.push(l) }),
    layer: portsLayer({ broker: new MemoryBroker(), store: new MemoryStore(), closeBroker: true }),
    testClockAt: 0,
    instantRestarts: true,
  })
  workers.push({ stop: () => rt.stop() } as TestWorker<Registry>)
  return rt
}
const delaysIn = (lines: readonly string[]) =>
  lines.flatMap((l) => {
    const m = l.match(/restarting in (\d+)ms/)
    return m ? [Number(m[1])] : []
  })

describe('agents', () => {
  it('consumes a declared topic, updates tables and yields to every sink', async () => {
    const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, amount: Schema.Number })
    const app = createApp({ id: 'shop' })
      .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
      .topic('big-orders', { value: Order })
      .topic('audit', { value: Order })
      .table('revenue', { default: () => 0 })
      .agent('track', { from: 'orders', sink: ['big-orders', 'audit'] }, async function* (orders, ctx) {
        for await (const order of orders) {
          ctx.tables.revenue.update(order.customer, (v) => v + order.amount)
          if (order.amount > 1000) yield order
        }
      })
    const t = track(await app.test())
    await t.topics.orders.send({ id: '1', customer: 'ann', amount: 10 }, { key: 'ann' })
    await t.topics.orders.send({ id: '2', customer: 'ann', amount: 2000 }, { key: 'ann' })
    await t.topics.orders.send({ id: '3', customer: 'bob', amount: 5 }, { key: 'bob' })
    await t.idle()
    expect(t.tables.revenue.get('ann')).toBe(2010)
    expect(t.tables.revenue.get('bob')).toBe(5)
    expect(t.tables.revenue.get('zed')).toBe(0)
    expect(t.tables.revenue.has('zed')).toBe(false)
    expect(t.tables.revenue.size).toBe(2)
    const big = t.sent('big-orders')
    expect(big.map((e) => e.value)).toEqual([{ id: '2', customer: 'ann', amount: 2000 }])
    // the sink keeps the source key and the event time
    expect(big[0]!.key).toBe('ann')
    expect(t.sent('audit')).toHaveLength(1)
    // keyed sends land where Kafka's partitioner puts them
    const sentOrders = t.sent('orders')
    expect(sentOrders[0]!.partition).toBe(sentOrders[1]!.partition)
  })

  it("forwards the event's key bytes to a sink of the same key schema, and re-encodes for another", async () => {
    const Long = Schema.String.check(Schema.isMinLength(4))
    const app = createApp({ id: 'keys' })
      .topic('in', { value: Schema.Number, partitions: 4 })
      .topic('same', { value: Schema.Number, partitions: 3 })
      .topic('long', { key: Long, value: Schema.Number, partitions: 3 })
      .agent('fwd', { from: 'in', sink: ['same', 'long'] }, async function* (values) {
        for await (const v of values) yield v
      })
    const t = track(await app.test())
    await t.topics.in.send(1, { key: 'ann' })
    await t.topics.in.send(2, { key: 'zoë-key' })
    await t.idle()
    const raw = (topic: string) => t.sent(topic).map((e) => ({ key: e.key, partition: e.partition }))
    // same schema: the key and the partition a keyed send() would give
    const same = raw('same')
    expect(same.map((e) => e.key)).toEqual(['ann', 'zoë-key'])
    const direct = createApp({ id: 'keys2' }).topic('same', { value: Schema.Number, partitions: 3 })
    const d = track(await direct.test())
    await d.topics.same.send(1, { key: 'ann' })
    await d.topics.same.send(2, { key: 'zoë-key' })
    expect(same.map((e) => e.partition)).toEqual(d.sent('same').map((e) => e.partition))
    // another key schema: its own rules apply ('ann' is too short and is dropped, the record stays)
    expect(raw('long').map((e) => e.key)).toEqual([null, 'zoë-key'])
  })

  it('encodes a yielded value when it is yielded: later changes do not leak in, bad values crash the agent', async () => {
    const Counter = Schema.Struct({ n: Schema.Number })
    let starts = 0
    let closed = 0
    const app = createApp({ id: 'enc' })
      .topic('ticks', { value: Schema.Number })
      .topic('counts', { value: Counter })
      .agent('count', { from: 'ticks', sink: ['counts'] }, async function* (ticks) {
        starts++
        const acc = { n: 0 }
        try {
          for await (const t of ticks) {
            if (t < 0) yield { n: 'not a number' } as unknown as { n: number }
            acc.n += t
            yield acc // the same object each time, changed after it was yielded
          }
        } finally {
          closed++
        }
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    for (const n of [1, 2, 3]) await t.topics.ticks.send(n)
    await t.idle()
    expect(t.sent('counts').map((e) => e.value)).toEqual([{ n: 1 }, { n: 3 }, { n: 6 }])
    await t.topics.ticks.send(-1)
    await t.idle()
    await t.advance('120ms') // the first backoff: 100 ms ± 20% jitter
    expect(starts).toBe(2) // the value the sink's schema rejects crashed the handler, which restarted
    expect(closed).toBe(1) // and closed it first, as for await does: its finally ran
    expect(t.sent('counts')).toHaveLength(3)
  })

  it('answers ask() with the first value the agent yields, and send() reaches the own topic', async () => {
    const seen: number[] = []
    const app = createApp({ id: 'rpc' })
      .agent('double', { value: Schema.Number }, async function* (numbers) {
        for await (const n of numbers) {
          seen.push(n)
          yield n * 2
          yield n * 3
        }
      })
      .agent('pow', { value: Schema.Number }, async function* (numbers, ctx) {
        for await (const n of numbers) yield await ctx.agents.double.ask(n)
      })
    const t = track(await app.test())
    expect(await t.agents.double.ask(21)).toBe(42)
    expect(await t.agents.pow.ask(5)).toBe(10)
    await t.agents.double.send(7)
    await t.idle()
    expect(seen).toEqual([21, 5, 7])
    expect(t.sent('double').map((e) => e.value)).toEqual([21, 5, 7])
  })

  it('times out an ask that gets no reply, on the test clock', async () => {
    const app = createApp({ id: 'silent' }).agent('sink', {}, async (s) => {
      for await (const _ of s) {
        // never yields
      }
    })
    const t = track(await app.test())
    const reply = t.agents.sink.ask('x', { timeout: '5s' })
    const settled = reply.then(
      () => 'resolved',
      (e: Error) => e.message,
    )
    await t.idle()
    await t.advance('6s')
    expect(await settled).toMatch(/ask to agent 'sink' got no reply within 5000ms/)
  })

  it('runs `concurrency` instances sharing the stream', async () => {
    const byInstance = new Map<number, number>()
    let next = 0
    const app = createApp({ id: 'conc' }).agent(
      'work',
      { value: Schema.Number, concurrency: 3 },
      async (s) => {
        const me = next++
        for await (const _ of s) {
          byInstance.set(me, (byInstance.get(me) ?? 0) + 1)
          await new Promise((r) => setTimeout(r, 1))
        }
      },
    )
    const t = track(await app.test())
    for (let i = 0; i < 30; i++) await t.agents.work.send(i)
    await t.idle()
    expect(next).toBe(3)
    expect([...byInstance.values()].reduce((a, b) => a + b, 0)).toBe(30)
    expect(byInstance.size).toBe(3)
  })

  it('restarts a crashing handler with exponential backoff, acknowledging the failed message', async () => {
    const handled: number[] = []
    let starts = 0
    const logs: string[] = []
    const app = createApp({ id: 'crash' }).agent('flaky', { value: Schema.Number }, async (s) => {
      starts++
      for await (const n of s) {
        if (n < 0) throw new Error(`bad number ${n}`)
        handled.push(n)
      }
    })
    const t = await testRuntime(app.definition, logs)
    const flaky = t.agentHandles.flaky!
    await flaky.send(1)
    await flaky.send(-1)
    await flaky.send(2)
    // idle() covers the restart: under app.test() the backoff is not waited on the test clock
    await t.idle()
    expect(starts).toBe(2)
    expect(handled).toEqual([1, 2]) // -1 was acknowledged, not redelivered
    await flaky.send(-2)
    await flaky.send(3)
    await t.idle()
    expect(starts).toBe(3)
    expect(handled).toEqual([1, 2, 3])
    expect(t.testClock!.now()).toBe(0) // the clock did not move
    // the backoff is still computed (and logged): 100 ms ± 20%, then twice that
    const delays = delaysIn(logs)
    expect(delays).toHaveLength(2)
    expect(delays[0]).toBeGreaterThanOrEqual(80)
    expect(delays[0]).toBeLessThanOrEqual(120)
    expect(delays[1]).toBeGreaterThanOrEqual(160)
    expect(delays[1]).toBeLessThanOrEqual(240)
  })

  it('logs a crash with the stack of the error, on lines of its own under the event', async () => {
    const lines: string[] = []
    const def = createApp({ id: 'stack' }).agent('boom', { value: Schema.Number }, async (s) => {
      for await (const _ of s) throw new Error('kaboom')
    }).definition
    const rt = await startRuntime(def, {
      broker: new MemoryBroker(),
      store: new MemoryStore(),
      log: makeLogger({ level: 'error', write: (l) => lines.push(l) }),
      config: resolveConfig(def.config, { broker: 'memory://', store: 'memory://', web: { enabled: false } }),
      closeBroker: true,
    })
    try {
      await rt.agentHandles.boom!.send(1)
      await rt.idle()
      const crash = lines.find((l) => l.includes('agent boom crashed: kaboom'))
      expect(crash).toBeDefined()
      expect(crash).toMatch(/\n {4}Error: kaboom\n {4}\s+at .*agents\.test\.ts/)
    } finally {
      await rt.stop()
    }
  })

  it('backs off more after each crash in a row (30 s at most)', async () => {
    let starts = 0
    const delays: number[] = []
    const app = createApp({ id: 'spin' }).agent('bad', { value: Schema.Number }, async (s) => {
      starts++
      for await (const _ of s) throw new Error('always')
    })
    const lines: string[] = []
    const t = await testRuntime(app.definition, lines)
    for (let i = 0; i < 12; i++) await t.agentHandles.bad!.send(i)
    await t.idle()
    delays.push(...delaysIn(lines))
    expect(starts).toBe(13) // every message crashed the handler once and was acknowledged
    delays.forEach((d, i) => {
      const base = Math.min(100 * 2 ** i, 30_000)
      expect(d, `restart ${i + 1}`).toBeGreaterThanOrEqual(Math.min(base * 0.8, 30_000) - 1)
      expect(d, `restart ${i + 1}`).toBeLessThanOrEqual(Math.min(base * 1.2, 30_000) + 1)
    })
    expect(delays).toHaveLength(12)
  })

  it('one_for_all restarts every instance of the agent together', async () => {
    let starts = 0
    const app = createApp({ id: 'ofa' }).agent(
      'team',
      { value: Schema.Number, concurrency: 2, supervisor: 'one_for_all' },
      async (s) => {
        starts++
        for await (const n of s) if (n === 13) throw new Error('unlucky')
      },
    )
    const t = track(await app.test({ logLevel: 'silent' }))
    await t.agents.team.send(13)
    await t.idle()
    await t.advance('1s')
    expect(starts).toBe(4) // both instances started twice
  })

  it('a handler that returns is not restarted', async () => {
    let starts = 0
    const app = createApp({ id: 'done' }).agent('once', { value: Schema.Number }, async (s) => {
      starts++
      for await (const _ of s) return
    })
    const t = track(await app.test({ logLevel: 'silent' }))
    await t.agents.once.send(1)
    await t.idle()
    await t.advance('10s')
    expect(starts).toBe(1)
  })
})
