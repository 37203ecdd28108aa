/**
 * Tables are co-partitioned with the streams that write them: a table takes
 * the partition count of its writers' topic, a row lives in its key's
 * partition, and a worker refuses (NotOwnedError) to touch a key another
 * worker holds — the agent stops at that message, which stays uncommitted —
 * instead of answering or writing a silent default.
 */
import { describe, expect, it } from 'vitest'
import { createApp, NotOwnedError, Schema } from '../src/index.ts'
import {
  MemoryBroker,
  partitionForKey,
  startMemoryRuntime,
  type WorkerRuntime,
} from '../src/runtime/index.ts'
import { captureStderr, running } from './helpers.ts'

/** A key whose partition (of n) is p. */
const keyIn = (p: number, n: number, prefix = 'k') => {
  for (let i = 0; ; i++) if (partitionForKey(Buffer.from(`${prefix}${i}`), n) === p) return `${prefix}${i}`
}

type Tables = Record<string, { get(k: string): number; update(k: string, f: (v: number) => number): void }>
const table = (w: WorkerRuntime, name: string) => (w.ctx.tables as Tables)[name]!

const Order = Schema.Struct({ customer: Schema.String, amount: Schema.Number })

describe('co-partitioned tables', () => {
  it("binds a table to its first writer's topic when the source topics differ (the tour: 4, not 8)", async () => {
    const app = createApp({ id: 'bind' })
      .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
      .table('revenue', { default: () => 0 })
      .agent('track', { from: 'orders' }, async (orders, ctx) => {
        for await (const o of orders) ctx.tables.revenue.update(o.customer, (v) => v + o.amount)
      })
      .agent('double', { value: Schema.Number }, async function* (ns) {
        for await (const n of ns) yield n * 2
      })
    const t = await app.test({ logLevel: 'silent' })
    try {
      const rt = (t as unknown as { broker: MemoryBroker }).broker
      expect(await rt.partitions('bind-revenue-changelog')).toBeUndefined() // nothing bound yet
      expect(t.tables.revenue.get('ann')).toBe(0) // nothing stored anywhere: the default, rightly
      await t.topics.orders.send({ customer: 'ann', amount: 5 }, { key: 'ann' })
      await t.idle()
      await t.commit()
      expect(t.tables.revenue.get('ann')).toBe(5)
      expect(await rt.partitions('bind-revenue-changelog')).toBe(4)
      const log = t.sent('bind-revenue-changelog')
      expect(log).toHaveLength(1)
      expect(log[0]!.partition).toBe(partitionForKey(Buffer.from('ann'), 4))
    } finally {
      await t.stop()
    }
  })

  it('on one worker a key outside its event partition works, and is reported once', async () => {
    const app = createApp({ id: 'single', logLevel: 'warn' })
      .topic('in', { value: Schema.String, partitions: 4 })
      .table('counts', { default: () => 0 })
      .agent('count', { from: 'in' }, async (words, ctx) => {
        for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
      })
    const t = await app.test({ logLevel: 'warn' })
    let count = 0
    const log = await captureStderr(async () => {
      for (const w of ['a', 'b', 'c', 'd', 'e', 'a']) await t.topics.in.send(w) // unkeyed: round robin
      await t.idle()
      count = t.tables.counts.get('a')
      await t.stop()
    })
    expect(count).toBe(2)
    const warnings = log
      .split('\n')
      .filter((l) => l.includes("table 'counts' is not co-partitioned with 'in'"))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/groupBy/)
  })

  it('with two workers, an agent touching a key the other holds stops there, the message uncommitted', async () => {
    const broker = new MemoryBroker()
    const seen: string[] = []
    const def = createApp({ id: 'two', commitInterval: '1h' })
      .topic('in', { key: Schema.String, value: Schema.String, partitions: 2 })
      .table('counts', { default: () => 0 })
      .agent('count', { from: 'in' }, async (s, ctx) => {
        for await (const e of s.events()) {
          seen.push(e.value)
          // the table key is the value, not the event's key: not co-partitioned
          ctx.tables.counts.update(e.value, (n) => n + 1)
        }
      }).definition
    const a = await startMemoryRuntime(def, { broker, closeBroker: false })
    const b = await startMemoryRuntime(def, { broker, closeBroker: false })
    try {
      // a holds partition 0, b partition 1. An event on partition 1 (b) whose table key is on 0 (a).
      const onA = keyIn(0, 2, 'x')
      const eventKey = keyIn(1, 2, 'e')
      await a.topicHandles.in!.send(onA, { key: eventKey })
      await b.idle()
      expect(seen).toEqual([onA])
      expect(running(b).agents.get('count')!.state).toBe('failed')
      await b.commit()
      // uncommitted: once b is gone, a gets partition 1 and processes the message itself
      await b.stop()
      await a.idle()
      expect(seen).toEqual([onA, onA])
      expect(table(a, 'counts').get(onA)).toBe(1)
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })

  it("outside an agent a key another worker holds is refused, reads included; the holder's keys are served", async () => {
    const broker = new MemoryBroker()
    const def = createApp({ id: 'reads' })
      .topic('in', { key: Schema.String, value: Schema.Number, partitions: 2 })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'in' }, async (s, ctx) => {
        for await (const e of s.events()) ctx.tables.sums.update(e.key, (v) => v + e.value)
      }).definition
    const a = await startMemoryRuntime(def, { broker, closeBroker: false })
    const b = await startMemoryRuntime(def, { broker, closeBroker: false })
    try {
      const onA = keyIn(0, 2)
      const onB = keyIn(1, 2)
      await a.topicHandles.in!.send(3, { key: onA })
      await a.topicHandles.in!.send(4, { key: onB })
      await a.idle()
      await b.idle()
      expect(table(a, 'sums').get(onA)).toBe(3)
      expect(table(b, 'sums').get(onB)).toBe(4)
      expect(() => table(a, 'sums').get(onB)).toThrow(NotOwnedError)
      expect(() => table(a, 'sums').get(onB)).toThrow(/partition 1 of 2, which another worker holds/)
      expect(() => table(b, 'sums').update(onA, (v) => v + 1)).toThrow(NotOwnedError)
      expect(await a.ownerUrl('sums', onA)).toBeUndefined() // local
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })

  it('a groupBy stream and a table keyed by the new key are co-partitioned', async () => {
    const broker = new MemoryBroker()
    const View = Schema.Struct({ page: Schema.String })
    const def = createApp({ id: 'gb2', commitInterval: '1h' })
      .topic('views', { value: View, partitions: 2 })
      .table('per-page', { default: () => 0 })
      .agent('count', { from: 'views' }, async (views, ctx) => {
        for await (const v of views.groupBy((v) => v.page, { name: 'by-page' }))
          ctx.tables['per-page'].update(v.page, (n) => n + 1)
      }).definition
    const a = await startMemoryRuntime(def, { broker, closeBroker: false, logLevel: 'warn' })
    const b = await startMemoryRuntime(def, { broker, closeBroker: false, logLevel: 'warn' })
    try {
      const pages = ['/a', '/b', '/c', '/d', '/e', '/f']
      const log = await captureStderr(async () => {
        for (const p of pages) for (let i = 0; i < 3; i++) await a.topicHandles.views!.send({ page: p })
        for (let i = 0; i < 3; i++) {
          await a.idle()
          await b.idle()
        }
      })
      for (const p of pages) {
        const holder = partitionForKey(Buffer.from(p), 2) === 0 ? a : b
        expect(table(holder, 'per-page').get(p), p).toBe(3)
      }
      expect(running(a).agents.get('count')!.state).toBe('running')
      expect(running(b).agents.get('count')!.state).toBe('running')
      expect(log).not.toMatch(/co-partitioned|NotOwned/)
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })
})

describe('routes for table keys', () => {
  it('must name a declared table and give a key function', () => {
    const app = createApp({ id: 'r' }).table('t', { default: () => 0 })
    const h = () => new Response('')
    expect(() =>
      app.route('GET', '/x/:k', { table: 'nope' as 't', key: (c) => c.req.param('k') }, h),
    ).toThrow(/route GET \/x\/:k: table names an undeclared table "nope"/)
    expect(() => app.route('GET', '/x/:k', { table: 't', key: 'k' as never }, h)).toThrow(
      /key must be a function/,
    )
    const ok = app.route('GET', '/x/:k', { table: 't', key: (c) => c.req.param('k') }, h)
    expect(ok.definition.routes[0]).toMatchObject({ method: 'GET', path: '/x/:k', table: { name: 't' } })
  })
})
