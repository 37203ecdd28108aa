import { describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'

describe('smoke', () => {
  it('runs an agent with a table and sink', async () => {
    const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, amount: Schema.Number })
    const app = createApp({ id: 'shop' })
      .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
      .topic('big-orders', { value: Order })
      .table('revenue', { default: () => 0 })
      .agent('track', { from: 'orders', sink: ['big-orders'] }, async function* (orders, ctx) {
        for await (const order of orders) {
          ctx.tables.revenue.update(order.customer, (v) => v + order.amount)
          if (order.amount > 1000) yield order
        }
      })
      .agent('double', { value: Schema.Number }, async function* (numbers) {
        for await (const n of numbers) yield n * 2
      })
    const t = await app.test()
    await t.topics.orders.send({ id: '1', customer: 'ann', amount: 10 }, { key: 'ann' })
    await t.topics.orders.send({ id: '2', customer: 'ann', amount: 2000 }, { key: 'ann' })
    await t.topics.orders.send({ id: '3', customer: 'bob', amount: 5 }, { key: 'bob' })
    await t.idle()
    expect(t.tables.revenue.get('ann')).toBe(2010)
    expect(t.tables.revenue.get('bob')).toBe(5)
    expect(t.tables.revenue.get('zed')).toBe(0)
    expect(t.sent('big-orders').map((e) => e.value)).toEqual([{ id: '2', customer: 'ann', amount: 2000 }])
    expect(await t.agents.double.ask(21)).toBe(42)
    await t.stop()
  })
})
