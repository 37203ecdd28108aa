/**
 * Partitions a worker keeps without owning them, by tailing their changelogs:
 * a global table's rows (read on every worker, written only by the owner of a
 * key's partition) and standby copies (standbyReplicas), which a worker that
 * takes a partition over resumes from instead of recovering it from zero.
 */
import { describe, expect, it } from 'vitest'
import { createApp, NotOwnedError, Schema } from '../src/index.ts'
import {
  MemoryBroker,
  partitionForKey,
  startMemoryRuntime,
  type WorkerRuntime,
} from '../src/runtime/index.ts'
import { running } from './helpers.ts'

type Tables = Record<string, { get(k: string): number; update(k: string, f: (v: number) => number): void }>
const table = (w: WorkerRuntime, name: string) => (w.ctx.tables as Tables)[name]!

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const keyIn = (p: number, n: number, prefix: string) => {
  for (let i = 0; ; i++) if (partitionForKey(Buffer.from(`${prefix}${i}`), n) === p) return `${prefix}${i}`
}

describe('global tables', () => {
  it('every worker reads every key; a key is written only by the owner of its partition', async () => {
    const Rate = Schema.Struct({ currency: Schema.String, rate: Schema.Number })
    const Order = Schema.Struct({ id: Schema.String, currency: Schema.String, amount: Schema.Number })
    const priced: { worker: string; id: string; value: number }[] = []
    const def = (name: string) =>
      createApp({ id: 'global', commitInterval: '20ms' })
        .topic('rates', { key: Schema.String, value: Rate, partitions: 2 })
        .topic('orders', { key: Schema.String, value: Order, partitions: 2 })
        .table('rates', { default: () => 0, global: true })
        .agent('keep-rates', { from: 'rates' }, async (rates, ctx) => {
          for await (const r of rates) ctx.tables.rates.set(r.currency, r.rate)
        })
        .agent('price', { from: 'orders' }, async (orders, ctx) => {
          // Orders are keyed by their id: the currency's rate lives in any partition.
          for await (const o of orders)
            priced.push({ worker: name, id: o.id, value: o.amount * ctx.tables.rates.get(o.currency) })
        }).definition
    const broker = new MemoryBroker()
    const a = await startMemoryRuntime(def('a'), { broker, closeBroker: false })
    const b = await startMemoryRuntime(def('b'), { broker, closeBroker: false })
    try {
      const eur = keyIn(0, 2, 'EUR')
      const usd = keyIn(1, 2, 'USD')
      await a.topicHandles.rates!.send({ currency: eur, rate: 2 }, { key: eur })
      await a.topicHandles.rates!.send({ currency: usd, rate: 3 }, { key: usd })
      await a.idle()
      await b.idle()
      // Both workers come to hold both rates, whichever partition each lives in.
      for (const w of [a, b]) {
        await until(
          'every rate on every worker',
          () => table(w, 'rates').get(eur) === 2 && table(w, 'rates').get(usd) === 3,
        )
      }
      for (let i = 0; i < 8; i++) {
        const id = `o${i}`
        await a.topicHandles.orders!.send({ id, currency: i % 2 ? usd : eur, amount: 10 }, { key: id })
      }
      await a.idle()
      await b.idle()
      expect(priced.map((p) => p.value).sort()).toEqual([20, 20, 20, 20, 30, 30, 30, 30])
      expect(new Set(priced.map((p) => p.worker))).toEqual(new Set(['a', 'b']))
      // a owns partition 0 (EUR), b partition 1 (USD): reading any is fine, writing another's is not.
      expect(() => table(a, 'rates').update(usd, (v) => v + 1)).toThrow(NotOwnedError)
      expect(table(a, 'rates').get('nowhere')).toBe(0)
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })
})

describe('standby replicas', () => {
  const N = 2_000
  const app = (standbyReplicas: number) =>
    createApp({ id: `standby-${standbyReplicas}`, commitInterval: '20ms', standbyReplicas })
      .topic('events', { key: Schema.String, value: Schema.Number, partitions: 2 })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'events' }, async (events, ctx) => {
        for await (const e of events.events()) ctx.tables.sums.update(e.key, (v) => v + e.value)
      }).definition

  /** Two workers; b leaves; how many changelog records a takes over by recovery. */
  async function failover(standbyReplicas: number) {
    const def = app(standbyReplicas)
    const broker = new MemoryBroker()
    const a = await startMemoryRuntime(def, { broker, closeBroker: false })
    const b = await startMemoryRuntime(def, { broker, closeBroker: false })
    try {
      const keys = Array.from({ length: N }, (_, i) => `k${i}`)
      for (const k of keys) await a.topicHandles.events!.send(1, { key: k })
      await a.idle()
      await b.idle()
      await a.commit()
      await b.commit()
      const onB = keys.filter((k) => partitionForKey(Buffer.from(k), 2) === 1)
      const sums = running(a).tables.get('sums')!
      if (standbyReplicas > 0)
        await until(
          "a's standby copy of b's partition",
          () => (sums.standby.get(1)?.size ?? 0) === onB.length,
        )
      else expect(sums.standby.size).toBe(0)
      const before = a.sensor.snapshot().recoveries.records
      await b.stop()
      await until('a to take partition 1 over', () => sums.owned.has(1))
      await a.idle()
      // Every key is right on the survivor either way.
      for (const k of keys.slice(0, 50)) expect(table(a, 'sums').get(k)).toBe(1)
      expect(sums.rows.size).toBe(N)
      return a.sensor.snapshot().recoveries.records - before
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  }

  it('a standby copy makes a takeover replay only what the standby had not seen', async () => {
    const fromZero = await failover(0)
    const fromStandby = await failover(1)
    expect(fromZero).toBeGreaterThan(N / 4) // b's half of the changelog, from zero
    expect(fromStandby).toBe(0) // the standby was current
  })

  it('a takeover whose store lost the partition writes it there from the standby rows, replaying nothing', async () => {
    const def = app(1)
    const broker = new MemoryBroker()
    const a = await startMemoryRuntime(def, { broker, closeBroker: false })
    const b = await startMemoryRuntime(def, { broker, closeBroker: false })
    try {
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
      for (const k of keys) await a.topicHandles.events!.send(2, { key: k })
      await a.idle()
      await b.idle()
      await b.commit()
      const onB = keys.filter((k) => partitionForKey(Buffer.from(k), 2) === 1)
      const sums = running(a).tables.get('sums')!
      await until("a's standby copy of b's partition", () => (sums.standby.get(1)?.size ?? 0) === onB.length)
      sums.store.dropPartitions([1]) // a's store no longer holds what its standby rows do
      const before = a.sensor.snapshot().recoveries.records
      await b.stop()
      await until('a to take partition 1 over', () => sums.owned.has(1))
      await a.idle()
      expect(a.sensor.snapshot().recoveries.records - before).toBe(0)
      const stored = [...sums.store.scan(1, 1_000)].flat()
      expect(stored.map((r) => r.key).sort()).toEqual([...onB].sort())
      expect(stored.every((r) => r.value === '2')).toBe(true)
      expect(sums.store.persistedOffsets([1]).get(1)).toBeGreaterThan(0)
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })
})
