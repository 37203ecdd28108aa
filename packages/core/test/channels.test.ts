/**
 * Channels (issue 23) under app.test(): agents read a channel like a topic,
 * every reading agent gets every value, send() waits while a reader's buffer
 * is full, values are checked at the sender, and names are checked at
 * definition time.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Registry } from '../src/definition/types.ts'
import { ConfigError, createApp, EncodeError, Schema, type TestWorker } from '../src/index.ts'

const workers: TestWorker<Registry>[] = []
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
})

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

describe('channels', () => {
  it('hands values, with their keys, to every agent reading the channel, never through the broker', async () => {
    const Audit = Schema.Struct({ user: Schema.String, n: Schema.Number })
    const seen: string[] = []
    const app = createApp({ id: 'ch1' })
      .topic('orders', { value: Schema.Number })
      .channel('audit', { value: Audit })
      .table('per-user', { default: () => 0 })
      .agent('track', { from: 'orders' }, async (orders, ctx) => {
        for await (const n of orders)
          await ctx.channels.audit.send({ user: `u${n % 2}`, n }, { key: `k${n}` })
      })
      .agent('log', { from: 'audit' }, async (audits) => {
        for await (const e of audits.events()) seen.push(`${e.key}:${e.value.user}:${e.offset}`)
      })
      .agent('count', { from: 'audit' }, async (audits, ctx) => {
        for await (const a of audits) ctx.tables['per-user'].update(a.user, (v) => v + a.n)
      })
    const t = await app.test()
    workers.push(t)
    for (const n of [1, 2, 3]) await t.topics.orders.send(n)
    await t.idle()
    expect(seen).toEqual(['k1:u1:0', 'k2:u0:1', 'k3:u1:2'])
    expect(t.tables['per-user'].get('u1')).toBe(4)
    expect(t.tables['per-user'].get('u0')).toBe(2)
    // Nothing of the channel reached the broker.
    expect(t.sent('audit')).toEqual([])
  })

  it('makes send() wait while a reader holds a full buffer (backpressure)', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let sent = 0
    const got: number[] = []
    const app = createApp({ id: 'ch2' })
      .channel('work', { value: Schema.Number, maxsize: 2 })
      .agent('slow', { from: 'work' }, async (values) => {
        for await (const v of values) {
          await gate
          got.push(v)
        }
      })
      .agent('feed', { value: Schema.Number }, async (ns, ctx) => {
        for await (const n of ns)
          for (let i = 0; i < n; i++) {
            await ctx.channels.work.send(i)
            sent++
          }
      })
    const t = await app.test()
    workers.push(t)
    await t.agents.feed.send(6)
    // The reader holds the first value, two wait in its buffer, the fourth send waits for room.
    for (let i = 0; i < 200 && sent < 3; i++) await turns(1)
    await turns(50)
    expect(sent).toBe(3)
    release()
    await t.idle()
    expect(sent).toBe(6)
    expect(got).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('checks values against the channel schema at the sender, and says when nobody reads it', async () => {
    const errors: string[] = []
    const app = createApp({ id: 'ch3' })
      .channel('nums', { value: Schema.Number })
      .channel('unread')
      .agent('sum', { from: 'nums' }, async (ns) => {
        for await (const _ of ns);
      })
      .agent('bad', { value: Schema.String }, async (xs, ctx) => {
        for await (const x of xs) {
          await (ctx.channels.nums.send as (v: unknown) => Promise<void>)(x).catch((e: Error) =>
            errors.push(`${e.name}: ${e.message}`),
          )
          await ctx.channels.unread.send(x).catch((e: Error) => errors.push(`${e.name}: ${e.message}`))
        }
      })
    const t = await app.test()
    workers.push(t)
    await t.agents.bad.send('text')
    await t.idle()
    expect(errors[0]).toMatch(/^EncodeError: channel 'nums': the value does not match its schema/)
    expect(errors[1]).toBe(
      "ConfigError: channel 'unread': no agent reads it (declare one with from: 'unread')",
    )
    expect(new EncodeError('x')).toBeInstanceOf(Error)
  })

  it('sends to a channel-reading agent through ctx.agents, and refuses ask()', async () => {
    const got: number[] = []
    const app = createApp({ id: 'ch4' })
      .channel('nums', { value: Schema.Number })
      .agent('sum', { from: 'nums' }, async (ns) => {
        for await (const n of ns) got.push(n)
      })
    const t = await app.test()
    workers.push(t)
    await t.agents.sum.send(5)
    await t.idle()
    expect(got).toEqual([5])
    await expect(t.agents.sum.ask(1)).rejects.toThrow(/reads channel 'nums': ask\(\) needs a topic/)
  })

  it('refuses names shared with topics or agents, and channels mixed with topics, at definition time', () => {
    const base = createApp({ id: 'ch5' }).topic('orders').channel('audit')
    const untyped = base as unknown as {
      channel(n: string): unknown
      topic(n: string): unknown
      agent(n: string, o: object, h: () => void): unknown
    }
    expect(() => untyped.channel('orders')).toThrow(
      new ConfigError(
        "'orders' is already declared as a topic (channels share names with topics and agents)",
      ),
    )
    expect(() => untyped.topic('audit')).toThrow(/'audit' is already declared as a channel/)
    expect(() => untyped.agent('audit', {}, () => {})).toThrow(/'audit' is already declared as a channel/)
    expect(() => untyped.agent('a', { from: ['audit', 'orders'] }, () => {})).toThrow(
      "agent 'a': from names channel 'audit' with other sources; an agent reads one channel, or topics",
    )
    expect(() => untyped.channel('x y')).toThrow(/channel name "x y" is invalid/)
    expect(() =>
      (base as unknown as { channel(n: string, o: object): unknown }).channel('c', { maxsize: 0 }),
    ).toThrow("channel 'c': maxsize must be a positive integer, got 0")
  })
})
