/**
 * Stream–table joins: each event enriched from a table's row for its key (or a
 * key taken from the value), inner (misses dropped, and committed as
 * processed) or left (undefined for a miss); a global table joins by any key;
 * a table not partitioned like the stream stops the agent at its first event
 * with the topic, table and counts named, instead of reading keys other
 * workers hold. Two workers in one group: every event joins on the worker
 * that holds its key.
 */
import { describe, expect, it } from 'vitest'
import { createApp, Schema, tumbling } from '../src/index.ts'
import { MemoryBroker, partitionForKey } from '../src/runtime/index.ts'
import { captureStderr, startOn, topicsOf } from './helpers.ts'

const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  product: Schema.String,
  amount: Schema.Number,
})
const Customer = Schema.Struct({ name: Schema.String, tier: Schema.String })
const Product = Schema.Struct({ title: Schema.String })

const shop = (customerPartitions = 4) =>
  createApp({ id: 'joins', logLevel: 'silent' })
    .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
    .topic('customers', { key: Schema.String, value: Customer, partitions: 4 })
    .topic('products', { key: Schema.String, value: Product, partitions: 2 })
    .topic('enriched', {
      value: Schema.Struct({ id: Schema.String, name: Schema.String, tier: Schema.String }),
    })
    .topic('with-title', { value: Schema.Struct({ id: Schema.String, title: Schema.NullOr(Schema.String) }) })
    .table('customer', {
      value: Customer,
      default: () => ({ name: '', tier: '' }),
      partitions: customerPartitions,
    })
    .table('product', { value: Product, default: () => ({ title: '' }), global: true })
    .agent('keep-customers', { from: 'customers' }, async (cs, ctx) => {
      for await (const [k, c] of cs.items()) ctx.tables.customer.set(k, c)
    })
    .agent('keep-products', { from: 'products' }, async (ps, ctx) => {
      for await (const [k, p] of ps.items()) ctx.tables.product.set(k, p)
    })
    .agent('enrich', { from: 'orders', sink: ['enriched'] }, async function* (orders, ctx) {
      for await (const [o, c] of orders.join(ctx.tables.customer))
        yield { id: o.id, name: c.name, tier: c.tier }
    })
    .agent('title', { from: 'orders', sink: ['with-title'] }, async function* (orders, ctx) {
      for await (const [o, p] of orders.leftJoin(ctx.tables.product, (o) => o.product))
        yield { id: o.id, title: p?.title ?? null }
    })

const order = (id: string, customer: string, product = 'p1') => ({ id, customer, product, amount: 1 })

describe('stream–table joins', () => {
  it('enriches each event from the row of its key; inner drops misses, left keeps them', async () => {
    const t = await shop().test({ logLevel: 'silent' })
    try {
      await t.topics.customers.send({ name: 'Ann', tier: 'gold' }, { key: 'ann' })
      await t.topics.products.send({ title: 'Pen' }, { key: 'p1' })
      await t.idle()
      await t.topics.orders.send(order('1', 'ann'), { key: 'ann' })
      await t.topics.orders.send(order('2', 'bob', 'p9'), { key: 'bob' }) // no customer bob, no product p9
      await t.topics.orders.send(order('3', 'ann', 'p1'), { key: 'ann' })
      await t.idle()
      expect(t.sent('enriched').map((e) => e.value)).toEqual([
        { id: '1', name: 'Ann', tier: 'gold' },
        { id: '3', name: 'Ann', tier: 'gold' },
      ])
      expect(t.sent('with-title').map((e) => e.value)).toEqual([
        { id: '1', title: 'Pen' },
        { id: '2', title: null },
        { id: '3', title: 'Pen' },
      ])
      // The dropped order counts as processed: everything is committable, nothing replays.
      await t.commit()
    } finally {
      await t.stop()
    }
  })

  it('joins on the worker holding the key, with two workers in one group', async () => {
    const broker = new MemoryBroker('memory://', { recordSends: true })
    const def = shop().definition
    const topic = (name: string) => topicsOf(a)[name]!
    const a = await startOn(def, broker)
    const b = await startOn(def, broker)
    try {
      const names = Array.from({ length: 40 }, (_, i) => `c${i}`)
      expect(new Set(names.map((n) => partitionForKey(Buffer.from(n), 4))).size).toBe(4)
      for (const n of names) await topic('customers').send({ name: n.toUpperCase(), tier: 't' }, { key: n })
      await Promise.all([a.idle(), b.idle()])
      for (const n of names) await topic('orders').send(order(n, n), { key: n })
      const deadline = Date.now() + 10_000
      while (broker.sentTo('enriched').length < names.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      const got = broker.sentTo('enriched').map((r) => JSON.parse(Buffer.from(r.value!).toString()))
      expect(got.map((v: { name: string }) => v.name).sort()).toEqual(
        names.map((n) => n.toUpperCase()).sort(),
      )
    } finally {
      await a.stop()
      await b.stop()
      await broker.close()
    }
  })

  it('stops the agent at its first event when the table is not co-partitioned, naming the counts', async () => {
    const log = await captureStderr(async () => {
      const t = await shop(8).test({ logLevel: 'error' })
      try {
        await t.topics.customers.send({ name: 'Ann', tier: 'gold' }, { key: 'ann' })
        await t.idle()
        await t.topics.orders.send(order('1', 'ann'), { key: 'ann' })
        await t.idle()
        expect(t.sent('enriched')).toEqual([])
        // Only the joining agent stopped; the left join on the global table went on.
        expect(t.sent('with-title')).toHaveLength(1)
      } finally {
        await t.stop()
      }
    })
    expect(log).toMatch(
      /agent enrich(#0)? stopped: join: topic 'orders' has 4 partitions and table 'customer' 8: a stream–table join needs them co-partitioned/,
    )
    expect(log).toMatch(/the message stays uncommitted/)
  })

  it('refuses a windowed or a set table, naming it and its kind', async () => {
    const refusals: string[] = []
    const t = await createApp({ id: 'joins-kinds', logLevel: 'silent' })
      .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
      .setTable('tags', { member: Schema.String, partitions: 4 })
      .table('recent', { window: tumbling('1m'), default: () => 0, partitions: 4 })
      .agent('enrich', { from: 'orders' }, async (orders, ctx) => {
        // Not plain tables: the types refuse them, and the runtime refuses them for untyped callers.
        for (const table of [ctx.tables.tags, ctx.tables.recent])
          try {
            orders.join(table as never)
          } catch (e) {
            refusals.push((e as Error).message)
          }
        for await (const _ of orders);
      })
      .test({ logLevel: 'silent' })
    try {
      await t.topics.orders.send(order('1', 'ann'), { key: 'ann' })
      await t.idle()
      expect(refusals).toEqual([
        "join: table 'tags' is a set table; join a plain table",
        "join: table 'recent' is windowed; join a plain table",
      ])
    } finally {
      await t.stop()
    }
  })
})
