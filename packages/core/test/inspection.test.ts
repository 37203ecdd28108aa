/**
 * The inspection port (worker.inspect), through the exported entry point:
 * a declared topic's facts and the encode check the CLI's send relies on,
 * table sizes and agent counts the benchmarks poll; and (checked by the
 * type-check) the exported WorkerRuntime hands out none of the runtime's parts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, createApp, EncodeError, Schema } from '../src/index.ts'
import { partitionForKey, startMemoryRuntime, type WorkerRuntime } from '../src/runtime/index.ts'

/** The runtime's own objects stay off the exported type: naming one here fails the type-check. */
const sealed: Extract<keyof WorkerRuntime, 'tables' | 'agents' | 'topics' | 'outbox'> extends never
  ? true
  : false = true

const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })

const def = createApp({ id: 'inspect', commitInterval: '1h' })
  .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
  .topic('lines', { key: Schema.Number, value: Schema.String, codec: 'string', partitions: 2 })
  .table('totals', { default: () => 0 })
  .agent('sum', { from: 'orders' }, async (orders, ctx) => {
    for await (const o of orders) ctx.tables.totals.update(o.id, (n) => n + o.amount)
  })
  .agent('regroup', { from: 'lines' }, async (lines) => {
    for await (const _ of lines.groupBy((text) => text, { name: 'by-text' })) {
    }
  }).definition

describe('worker.inspect', () => {
  let w: WorkerRuntime
  beforeAll(async () => {
    w = await startMemoryRuntime(def)
  })
  afterAll(() => w.stop())

  it('describes a declared topic and nothing else', () => {
    expect(sealed).toBe(true)
    const orders = w.inspect.topic('orders')!
    expect({ ...orders, check: undefined }).toEqual({
      name: 'orders',
      partitions: 4,
      codec: 'json',
      stringKeys: true,
      check: undefined,
    })
    expect(w.inspect.topic('lines')).toMatchObject({ codec: 'string', stringKeys: false, partitions: 2 })
    expect(w.inspect.topic('nope')).toBeUndefined()
  })

  it('checks a message as a send would encode it, and says where a key sends it', () => {
    const orders = w.inspect.topic('orders')!
    const o = { id: 'a', amount: 1 }
    expect(orders.check(o, { key: 'alice' }).partition).toBe(partitionForKey(Buffer.from('alice'), 4))
    expect(orders.check(o, { partition: 3 }).partition).toBe(3)
    expect(orders.check(o).partition).toBeUndefined()
    expect(() => orders.check({ id: 'a' })).toThrow(EncodeError)
    expect(() => orders.check({ id: 'a' })).toThrow(/cannot encode value for topic 'orders'/)
    expect(() => orders.check(o, { key: 7 })).toThrow(/cannot encode key for topic 'orders'/)
    expect(() => orders.check(o, { partition: 4 })).toThrow(ConfigError)
  })

  it('counts what an agent took and the rows a table holds', async () => {
    expect(w.inspect.agentConsumed('sum')).toBe(0)
    expect(w.inspect.tableSize('totals')).toBe(0)
    const orders = w.topicHandles.orders!
    for (let i = 0; i < 30; i++) await orders.send({ id: `c${i % 7}`, amount: 1 }, { key: `c${i % 7}` })
    await w.idle()
    expect(w.inspect.agentConsumed('sum')).toBe(30)
    expect(w.inspect.tableSize('totals')).toBe(7)
    expect(w.table('totals')!.get('c0')).toBe(5)
    expect(w.inspect.agentConsumed('nope')).toBeUndefined()
    expect(w.inspect.tableSize('nope')).toBeUndefined()
  })

  it("leaves the runtime's own topics out: changelogs, repartition topics", async () => {
    await w.topicHandles.lines!.send('x', { key: 1 })
    await w.idle()
    const own = w.internalTopics()
    expect(
      own.filter((t) => t.includes('by-text')),
      own.join(', '),
    ).toHaveLength(1)
    for (const t of own) expect(w.inspect.topic(t), t).toBeUndefined()
  })
})
