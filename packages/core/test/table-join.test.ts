/**
 * Table–table joins: a table derived key for key from two tables, kept current
 * as either changes (inner: keys in both; left: keys in the left one), written
 * only by the join, committed with its sources and recovered from its own
 * changelog.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'
import { MemoryBroker } from '../src/runtime/index.ts'
import { startFromChangelog, startOn, tablesOf, topicsOf } from './helpers.ts'

const Customer = Schema.Struct({ name: Schema.String })

const app = () =>
  createApp({ id: 'tjoin', logLevel: 'silent' })
    .topic('customers', { key: Schema.String, value: Customer, partitions: 2 })
    .topic('orders', { key: Schema.String, value: Schema.Number, partitions: 2 })
    .table('customer', { value: Customer, default: () => ({ name: '' }) })
    .table('spent', { default: () => 0 })
    .tableJoin('report', { left: 'customer', right: 'spent' }, (c, total, key) => {
      expectTypeOf(c).toEqualTypeOf<{ readonly name: string }>()
      expectTypeOf(total).toEqualTypeOf<number>()
      expectTypeOf(key).toEqualTypeOf<string>()
      return `${c.name}: ${total}`
    })
    .tableJoin('everyone', { left: 'customer', right: 'spent', type: 'left' }, (c, total) => {
      expectTypeOf(total).toEqualTypeOf<number | undefined>()
      return { name: c.name, total: total ?? 0 }
    })
    .agent('keep', { from: 'customers' }, async (cs, ctx) => {
      for await (const [k, c] of cs.items())
        if (c.name === '') ctx.tables.customer.delete(k)
        else ctx.tables.customer.set(k, c)
    })
    .agent('spend', { from: 'orders' }, async (os, ctx) => {
      for await (const [k, n] of os.items()) ctx.tables.spent.update(k, (t) => t + n)
    })

describe('table–table joins', () => {
  it('keeps the joined table current as either side changes', async () => {
    const t = await app().test({ logLevel: 'silent' })
    try {
      await t.topics.customers.send({ name: 'Ann' }, { key: 'ann' })
      await t.topics.customers.send({ name: 'Bob' }, { key: 'bob' })
      await t.topics.orders.send(5, { key: 'ann' })
      await t.idle()
      expect(t.tables.report.get('ann')).toBe('Ann: 5')
      expect(t.tables.report.has('bob')).toBe(false) // no spending yet: inner
      expect(t.tables.everyone.get('bob')).toEqual({ name: 'Bob', total: 0 })
      await t.topics.orders.send(2, { key: 'ann' })
      await t.topics.customers.send({ name: 'Ann B.' }, { key: 'ann' })
      await t.topics.orders.send(1, { key: 'cy' }) // no customer cy: in neither
      await t.idle()
      expect(t.tables.report.get('ann')).toBe('Ann B.: 7')
      expect(t.tables.report.has('cy')).toBe(false)
      expect(t.tables.everyone.has('cy')).toBe(false)
      await t.topics.customers.send({ name: '' }, { key: 'ann' }) // deleted on the left
      await t.idle()
      expect(t.tables.report.has('ann')).toBe(false)
      // Agents only read it.
      expect(() => t.tables.report.set('x', 'y')).toThrow(
        /table 'report' is joined from 'customer' and 'spent'/,
      )
    } finally {
      await t.stop()
    }
  })

  it('is committed with its sources and recovered from its own changelog', async () => {
    const broker = new MemoryBroker()
    const def = app().definition
    const a = await startOn(def, broker)
    const topics = topicsOf(a)
    await topics.customers!.send({ name: 'Dan' }, { key: 'dan' })
    await topics.orders!.send(4, { key: 'dan' })
    await a.idle()
    await a.stop()
    const b = await startFromChangelog(def, broker)
    try {
      type T = Record<string, { get(k: string): unknown }>
      expect(tablesOf<T[string]>(b).report!.get('dan')).toBe('Dan: 4')
    } finally {
      await b.stop()
      await broker.close()
    }
  })

  it('refuses tables declared with different partition counts', () => {
    const base = createApp({ id: 'x' })
      .table('a', { default: () => 0, partitions: 2 })
      .table('b', { default: () => 0, partitions: 4 })
    expect(() => base.tableJoin('c', { left: 'a', right: 'b' }, (x, y) => x + y)).toThrow(
      /table 'a' has 2 partitions and 'b' 4: a table–table join needs them co-partitioned/,
    )
  })
})
