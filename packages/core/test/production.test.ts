/**
 * Production settings (issue 23): the app's own logger takes every event,
 * canonicalUrl is what other workers forward table queries to, and bad
 * values fail at definition time with one line each.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, createApp, Schema } from '../src/index.ts'
import { MemoryBroker, startMemoryRuntime } from '../src/runtime/index.ts'
import { tablesOf } from './helpers.ts'

const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('production settings', () => {
  it('sends log events to the configured logger with their fields, nothing to stderr', async () => {
    const events: { level: string; msg: string; fields?: Readonly<Record<string, unknown>> }[] = []
    const at = (level: string) => (msg: string, fields?: Readonly<Record<string, unknown>>) =>
      events.push({ level, msg, ...(fields ? { fields } : {}) })
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
    const app = createApp({ id: 'plog', logger, logLevel: 'debug' })
      .topic('in', { value: Schema.Number })
      .agent('boom', { from: 'in' }, async (values) => {
        for await (const v of values) if (v === 13) throw new Error('unlucky')
      })
    const t = await app.test()
    try {
      await t.topics.in.send(13)
      await t.idle().catch(() => {})
      await until('the crash to be logged', () => events.some((e) => e.level === 'error'))
    } finally {
      await t.stop()
    }
    const crash = events.find((e) => e.level === 'error')!
    expect(crash.msg).toMatch(/unlucky/)
    // The component that logged is a field, not part of the message.
    expect(events.some((e) => typeof e.fields?.logger === 'string')).toBe(true)
  })

  it('publishes canonicalUrl in the members registry: the other worker forwards there', async () => {
    const def = (name: string) =>
      createApp({
        id: 'pcanon',
        commitInterval: '20ms',
        ...(name === 'b' ? { canonicalUrl: 'http://b.internal:8080' } : {}),
      })
        .topic('in', { key: Schema.String, value: Schema.Number, partitions: 2 })
        .table('sums', { default: () => 0 })
        .agent('sum', { from: 'in' }, async (values, ctx) => {
          for await (const e of values.events()) ctx.tables.sums.update(e.key!, (v) => v + e.value)
        }).definition
    const broker = new MemoryBroker()
    const a = await startMemoryRuntime(def('a'), { broker, closeBroker: false })
    const b = await startMemoryRuntime(def('b'), { broker, closeBroker: false })
    try {
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']
      let remote: string | undefined
      await until('a to learn that b owns a key', async () => {
        for (const k of keys) {
          const url = await a.ownerUrl('sums', k)
          if (url !== undefined) {
            remote = url
            return true
          }
        }
        return false
      })
      expect(remote).toBe('http://b.internal:8080')
    } finally {
      await a.stop()
      await b.stop()
      await broker.close()
    }
  })

  it("autoOffsetReset 'latest': a new group starts at the end as of its assignment", async () => {
    const broker = new MemoryBroker()
    await broker.ensureTopics([{ name: 'events', partitions: 2 }])
    const before = [0, 1].map((p) => ({
      topic: 'events',
      partition: p,
      key: null,
      value: Buffer.from(JSON.stringify(`old${p}`)),
      timestamp: Date.now(),
    }))
    await broker.producer().send(before)
    const seen: string[] = []
    const def = (reset: 'earliest' | 'latest', id: string) =>
      createApp({ id, autoOffsetReset: reset })
        .topic('events', { value: Schema.String })
        .agent('see', { from: 'events' }, async (values) => {
          for await (const v of values) seen.push(`${id}:${v}`)
        }).definition
    const late = await startMemoryRuntime(def('latest', 'late'), { broker, closeBroker: false })
    const early = await startMemoryRuntime(def('earliest', 'early'), { broker, closeBroker: false })
    try {
      await late.topicHandles.events!.send('new')
      await late.idle()
      await early.idle()
      expect(seen.filter((s) => s.startsWith('late:'))).toEqual(['late:new'])
      expect(seen.filter((s) => s.startsWith('early:')).sort()).toEqual([
        'early:new',
        'early:old0',
        'early:old1',
      ])
    } finally {
      await late.stop()
      await early.stop()
      await broker.close()
    }
  })

  it('declareTopics false: creates nothing, and one error lists every missing topic', async () => {
    const broker = new MemoryBroker()
    const def = createApp({ id: 'nodecl', declareTopics: false })
      .topic('orders', { value: Schema.Number, partitions: 2 })
      .table('totals', { default: () => 0 })
      .agent('sum', { from: 'orders' }, async (orders, ctx) => {
        for await (const n of orders) ctx.tables.totals.update('all', (v) => v + n)
      }).definition
    const err = await startMemoryRuntime(def, { broker, closeBroker: false }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    expect(msg.split('\n')).toHaveLength(1)
    for (const t of [
      'orders (2 partitions)',
      'nodecl-totals-changelog (2 partitions, compacted)',
      'nodecl-__replies',
      'nodecl-__leader',
    ])
      expect(msg).toContain(t)
    expect(await broker.partitions('orders')).toBeUndefined()
    // Provisioned by someone else, the same app starts and runs.
    await broker.ensureTopics([
      { name: 'orders', partitions: 2 },
      { name: 'nodecl-totals-changelog', partitions: 2, compacted: true },
      { name: 'nodecl-__replies', partitions: 1 },
      { name: 'nodecl-__leader', partitions: 1 },
    ])
    const w = await startMemoryRuntime(def, { broker, closeBroker: false })
    try {
      await w.topicHandles.orders!.send(5)
      await w.idle()
      expect(tablesOf<{ get(k: string): number }>(w).totals!.get('all')).toBe(5)
    } finally {
      await w.stop()
      await broker.close()
    }
  })

  it('blockingTimeout: an event loop blocked longer is logged with how long', async () => {
    const warnings: string[] = []
    const quiet = () => {}
    const logger = { debug: quiet, info: quiet, warn: (m: string) => warnings.push(m), error: quiet }
    const app = createApp({ id: 'pblock', logger, blockingTimeout: '50ms' })
      .topic('in', { value: Schema.Number })
      .agent('spin', { from: 'in' }, async (values) => {
        for await (const ms of values) {
          const end = performance.now() + ms
          while (performance.now() < end) {}
        }
      })
    const w = await startMemoryRuntime(app.definition)
    try {
      await w.topicHandles.in!.send(300)
      await w.idle()
      await until('the block to be logged', () => warnings.some((m) => m.startsWith('event loop blocked')))
      const ms = Number(/blocked for (\d+)ms/.exec(warnings.find((m) => m.startsWith('event loop'))!)![1])
      expect(ms).toBeGreaterThan(50)
    } finally {
      await w.stop()
    }
  })

  it('rejects bad production settings with one line each', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ autoOffsetReset: 'newest' }, /autoOffsetReset must be 'earliest' or 'latest'/],
      [{ declareTopics: 'no' }, /declareTopics must be true or false/],
      [{ canonicalUrl: 'ftp://x' }, /canonicalUrl must be an http\(s\) URL/],
      [{ logger: { info() {} } }, /missing debug, warn, error/],
      [{ maxPollRecords: 0 }, /maxPollRecords must be a positive integer/],
      [{ streamBufferMaxsize: 1.5 }, /streamBufferMaxsize must be a positive integer/],
      [{ stallTimeout: 'soon' }, /stallTimeout/],
    ]
    for (const [config, msg] of bad) {
      const make = () => createApp({ id: 'pbad', ...config } as Parameters<typeof createApp>[0])
      expect(make).toThrow(ConfigError)
      expect(make).toThrow(msg)
    }
  })
})
