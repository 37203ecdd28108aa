/**
 * Windowed stream–stream joins: an order and a payment with the same key pair
 * when their times are within the window, whichever comes first; events
 * outside it do not pair and leave the buffer; the buffer is a table with a
 * changelog, so a worker that recovers it still pairs a later event. Left and
 * outer joins also join an event that met no partner with undefined, once,
 * when its partition's stream time is past its window.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'
import { MemoryBroker } from '../src/runtime/index.ts'
import { captureStderr, startFromChangelog, startOn, topicsOf } from './helpers.ts'

const T0 = Date.UTC(2026, 0, 1)
const at = (min: number) => T0 + min * 60_000
const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
const Payment = Schema.Struct({ paid: Schema.Number })
const Matched = Schema.Struct({ id: Schema.String, amount: Schema.Number, paid: Schema.Number })

const app = () =>
  createApp({ id: 'ssjoin', logLevel: 'silent' })
    .topic('orders', { key: Schema.String, value: Order, partitions: 2 })
    .topic('payments', { key: Schema.String, value: Payment, partitions: 2 })
    .topic('matched', { key: Schema.String, value: Matched, partitions: 2 })
    .streamJoin(
      'match',
      { left: 'orders', right: 'payments', within: '5m', sink: 'matched' },
      (o, p, key) => {
        expectTypeOf(o).toEqualTypeOf<{ readonly id: string; readonly amount: number }>()
        expectTypeOf(p).toEqualTypeOf<{ readonly paid: number }>()
        expectTypeOf(key).toEqualTypeOf<string>()
        return { id: o.id, amount: o.amount, paid: p.paid }
      },
    )

describe('stream–stream joins', () => {
  it('pairs events of the two topics within the window, whichever comes first', async () => {
    const t = await app().test({ logLevel: 'silent' })
    try {
      await t.topics.orders.send({ id: 'o1', amount: 10 }, { key: 'ann', timestamp: at(0) })
      await t.topics.payments.send({ paid: 10 }, { key: 'ann', timestamp: at(3) }) // within 5m: pairs
      await t.topics.payments.send({ paid: 7 }, { key: 'bob', timestamp: at(1) }) // payment first
      await t.topics.orders.send({ id: 'o2', amount: 7 }, { key: 'bob', timestamp: at(4) })
      await t.topics.orders.send({ id: 'o3', amount: 1 }, { key: 'cy', timestamp: at(0) })
      await t.topics.payments.send({ paid: 1 }, { key: 'cy', timestamp: at(9) }) // 9m apart: no pair
      await t.idle()
      expect(t.sent('matched').map((e) => [e.key, e.value])).toEqual([
        ['ann', { id: 'o1', amount: 10, paid: 10 }],
        ['bob', { id: 'o2', amount: 7, paid: 7 }],
      ])
      // cy's order left the buffer when the payment 9m later came; only the payment is kept.
      const buffer = (t.tables as unknown as Record<string, { get(k: string): unknown }>)['match.buffer']!
      expect(buffer.get('cy')).toEqual({ l: [], r: [[at(9), { paid: 1 }]] })
    } finally {
      await t.stop()
    }
  })

  it("an event older than the key's newest by more than the window joins nothing and is logged as late", async () => {
    const t = await app().test({ logLevel: 'warn' })
    try {
      const err = await captureStderr(async () => {
        await t.topics.payments.send({ paid: 5 }, { key: 'eve', timestamp: at(20) })
        await t.topics.orders.send({ id: 'o5', amount: 5 }, { key: 'eve', timestamp: at(10) }) // 10m before
        await t.idle()
      })
      expect(t.sent('matched')).toEqual([])
      expect(err).toMatch(/stream join 'match': late event skipped \(orders\[\d\]@0, /)
      const buffer = (t.tables as unknown as Record<string, { get(k: string): unknown }>)['match.buffer']!
      expect(buffer.get('eve')).toEqual({ l: [], r: [[at(20), { paid: 5 }]] })
    } finally {
      await t.stop()
    }
  })

  it('a worker recovering the buffer from its changelog still pairs a later event', async () => {
    const broker = new MemoryBroker('memory://', { recordSends: true })
    const def = app().definition
    const a = await startOn(def, broker)
    await topicsOf(a).orders!.send({ id: 'o9', amount: 3 }, { key: 'dan', timestamp: at(0) })
    await a.idle()
    await a.stop()
    const b = await startFromChangelog(def, broker)
    try {
      await topicsOf(b).payments!.send({ paid: 3 }, { key: 'dan', timestamp: at(2) })
      await b.idle()
      const matched = broker
        .sentTo('matched')
        .map((r) => JSON.parse(Buffer.from(r.value as Uint8Array).toString()))
      expect(matched).toEqual([{ id: 'o9', amount: 3, paid: 3 }])
    } finally {
      await b.stop()
      await broker.close()
    }
  })

  it('refuses topics declared with different partition counts, and a sink that does not take the result', () => {
    const base = createApp({ id: 'x' })
      .topic('a', { partitions: 2, value: Schema.Number })
      .topic('b', { partitions: 3, value: Schema.Number })
      .topic('c', { partitions: 2, value: Schema.Number })
      .topic('s', { value: Schema.String })
    expect(() =>
      base.streamJoin('j', { left: 'a', right: 'b', within: '1m', sink: 's' }, (x, y) => `${x}${y}`),
    ).toThrow(/topic 'a' has 2 partitions and 'b' 3: a stream–stream join needs them co-partitioned/)
    // @ts-expect-error the sink 's' takes strings, the join makes numbers
    base.streamJoin('k', { left: 'a', right: 'c', within: '1m', sink: 's' }, (x, y) => x + y)
  })
})

const Result = Schema.Struct({ id: Schema.NullOr(Schema.String), paid: Schema.NullOr(Schema.Number) })
type Order = { readonly id: string; readonly amount: number }
type Payment = { readonly paid: number }

/** One partition: every event moves the same stream time. */
const base = (id: string) =>
  createApp({ id, logLevel: 'silent' })
    .topic('orders', { key: Schema.String, value: Order, partitions: 1 })
    .topic('payments', { key: Schema.String, value: Payment, partitions: 1 })
    .topic('results', { key: Schema.String, value: Result, partitions: 1 })

const leftApp = () =>
  base('ssjoin-left').streamJoin(
    'match',
    { left: 'orders', right: 'payments', within: '5m', sink: 'results', type: 'left' },
    (o, p) => {
      expectTypeOf(o).toEqualTypeOf<Order>()
      expectTypeOf(p).toEqualTypeOf<Payment | undefined>()
      return { id: o.id, paid: p === undefined ? null : p.paid }
    },
  )

const outerApp = () =>
  base('ssjoin-outer').streamJoin(
    'match',
    { left: 'orders', right: 'payments', within: '5m', sink: 'results', type: 'outer' },
    (o, p) => {
      expectTypeOf(o).toEqualTypeOf<Order | undefined>()
      expectTypeOf(p).toEqualTypeOf<Payment | undefined>()
      return { id: o === undefined ? null : o.id, paid: p === undefined ? null : p.paid }
    },
  )

describe('left and outer stream–stream joins', () => {
  it('left: an order never paid is joined with undefined once stream time is past its window, a paid one never', async () => {
    const t = await leftApp().test({ logLevel: 'warn' })
    try {
      await t.topics.orders.send({ id: 'o1', amount: 10 }, { key: 'ann', timestamp: at(0) })
      await t.topics.payments.send({ paid: 10 }, { key: 'ann', timestamp: at(2) })
      await t.topics.orders.send({ id: 'o2', amount: 7 }, { key: 'bob', timestamp: at(1) })
      await t.idle()
      // bob's order could still meet a payment: nothing for it yet
      expect(t.sent('results').map((e) => [e.key, e.value])).toEqual([['ann', { id: 'o1', paid: 10 }]])
      await t.topics.orders.send({ id: 'o3', amount: 1 }, { key: 'cy', timestamp: at(8) })
      await t.idle()
      // stream time 8m is not past 1m + 2 × 5m: a payment at 6m could still come on time
      expect(t.sent('results')).toHaveLength(1)
      const err = await captureStderr(async () => {
        await t.topics.orders.send({ id: 'o4', amount: 1 }, { key: 'dan', timestamp: at(20) })
        await t.idle()
        // too late for bob's order now (more than 5m behind stream time): logged, joins nothing
        await t.topics.payments.send({ paid: 7 }, { key: 'bob', timestamp: at(3) })
        await t.idle()
      })
      expect(err).toMatch(/stream join 'match': late event skipped \(payments\[0\]@1, /)
      expect(t.sent('results').map((e) => [e.key, e.value])).toEqual([
        ['ann', { id: 'o1', paid: 10 }],
        ['bob', { id: 'o2', paid: null }],
        ['cy', { id: 'o3', paid: null }],
      ])
      // a pair carries the time of the event that made it, an unmatched result its own event's
      expect(t.sent('results').map((e) => e.timestamp)).toEqual([at(2), at(1), at(8)])
      const buffer = (t.tables as unknown as Record<string, { has(k: string): boolean }>)['match.buffer']!
      expect(['ann', 'bob', 'cy'].map((k) => buffer.has(k))).toEqual([false, false, false])
      expect(buffer.has('dan')).toBe(true)
    } finally {
      await t.stop()
    }
  })

  it('outer: both sides that met no partner come out once, with undefined for the other', async () => {
    const t = await outerApp().test({ logLevel: 'silent' })
    try {
      await t.topics.payments.send({ paid: 7 }, { key: 'dan', timestamp: at(0) })
      await t.topics.orders.send({ id: 'o5', amount: 5 }, { key: 'eve', timestamp: at(1) })
      await t.topics.orders.send({ id: 'o6', amount: 3 }, { key: 'fay', timestamp: at(2) })
      await t.topics.payments.send({ paid: 3 }, { key: 'fay', timestamp: at(4) })
      await t.topics.payments.send({ paid: 3 }, { key: 'fay', timestamp: at(5) }) // a second payment: a second pair
      await t.topics.orders.send({ id: 'o7', amount: 1 }, { key: 'gus', timestamp: at(30) })
      await t.idle()
      await t.topics.orders.send({ id: 'o8', amount: 1 }, { key: 'gus', timestamp: at(31) })
      await t.idle()
      const got = t.sent('results').map((e) => JSON.stringify([e.key, e.value]))
      expect(got.sort()).toEqual(
        [
          ['dan', { id: null, paid: 7 }],
          ['eve', { id: 'o5', paid: null }],
          ['fay', { id: 'o6', paid: 3 }],
          ['fay', { id: 'o6', paid: 3 }],
        ]
          .map((x) => JSON.stringify(x))
          .sort(),
      )
    } finally {
      await t.stop()
    }
  })

  it('a worker recovering the buffer from its changelog emits an unmatched event once, when stream time passes it', async () => {
    const broker = new MemoryBroker('memory://', { recordSends: true })
    const def = leftApp().definition
    const a = await startOn(def, broker)
    await topicsOf(a).orders!.send({ id: 'o9', amount: 3 }, { key: 'hal', timestamp: at(0) })
    await a.idle()
    await a.stop()
    const b = await startFromChangelog(def, broker)
    try {
      await topicsOf(b).orders!.send({ id: 'o10', amount: 1 }, { key: 'ivy', timestamp: at(30) })
      await b.idle()
      await topicsOf(b).orders!.send({ id: 'o11', amount: 1 }, { key: 'ivy', timestamp: at(60) })
      await b.idle()
      const results = broker
        .sentTo('results')
        .map((r) => [
          Buffer.from(r.key as Uint8Array).toString(),
          JSON.parse(Buffer.from(r.value as Uint8Array).toString()),
        ])
      expect(results).toEqual([
        ['hal', { id: 'o9', paid: null }],
        ['ivy', { id: 'o10', paid: null }],
      ])
    } finally {
      await b.stop()
      await broker.close()
    }
  })

  it('refuses an unknown type', () => {
    expect(() =>
      base('x').streamJoin(
        'j',
        // @ts-expect-error not a join type
        { left: 'orders', right: 'payments', within: '1m', sink: 'results', type: 'full' },
        () => ({ id: null, paid: null }),
      ),
    ).toThrow(/stream join 'j': type must be 'inner', 'left' or 'outer', got "full"/)
  })
})
