import { afterEach, describe, expect, it } from 'vitest'
import type { Registry } from '../src/definition/types.ts'
import { createApp, hopping, Schema, sliding, type TestWorker, tumbling } from '../src/index.ts'

const workers: TestWorker<Registry>[] = []
const track = <W extends TestWorker<Registry>>(w: W): W => {
  workers.push(w)
  return w
}
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
})

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0) // a whole hour

describe('timers and cron on the test clock', () => {
  it('fires a timer every interval, deterministically, and keeps going after a failing run', async () => {
    const fired: number[] = []
    const app = createApp({ id: 'tick' }).timer('report', { every: '30s' }, async (ctx) => {
      fired.push(ctx.app.config.commitIntervalMs)
      if (fired.length === 2) throw new Error('second run fails')
    })
    const t = track(await app.test({ startTime: T0, logLevel: 'silent' }))
    await t.advance('29s')
    expect(fired).toHaveLength(0)
    await t.advance('1s')
    expect(fired).toHaveLength(1)
    await t.advance('2m')
    expect(fired).toHaveLength(5)
    expect(t.now()).toBe(T0 + 150_000)
  })

  it('fires cron jobs on schedule in their timezone', async () => {
    const at: string[] = []
    let t!: TestWorker<Registry>
    const app = createApp({ id: 'cron' })
      .cron('hourly', { schedule: '0 * * * *' }, () => {
        at.push(`hourly ${new Date(t.now()).toISOString()}`)
      })
      .cron('nine', { schedule: '0 9 * * *', timezone: 'America/New_York' }, () => {
        at.push(`nine ${new Date(t.now()).toISOString()}`)
      })
    t = track(await app.test({ startTime: T0 }))
    await t.advance('3h')
    expect(at).toEqual([
      'hourly 2026-01-01T13:00:00.000Z',
      'nine 2026-01-01T14:00:00.000Z', // 09:00 in New York (UTC-5) is 14:00 UTC
      'hourly 2026-01-01T14:00:00.000Z',
      'hourly 2026-01-01T15:00:00.000Z',
    ])
  })

  it('stamps sends without a timestamp with the test clock', async () => {
    const app = createApp({ id: 'stamp' }).topic('t')
    const t = track(await app.test({ startTime: T0 }))
    await t.topics.t.send('a')
    await t.advance('1m')
    await t.topics.t.send('b')
    expect(t.sent('t').map((e) => e.timestamp)).toEqual([T0, T0 + 60_000])
  })
})

describe('windowed tables', () => {
  const View = Schema.Struct({ page: Schema.String })

  it('tumbling: updates the window of the event time; current, now, delta, windows; expiry on the clock', async () => {
    const app = createApp({ id: 'win' })
      .topic('views', { value: View, partitions: 2 })
      .table('per-minute', { default: () => 0, window: tumbling('1m', { expires: '1h' }) })
      .agent('count', { from: 'views' }, async (s, ctx) => {
        for await (const v of s) {
          const w = ctx.tables['per-minute']
          w.update(v.page, (n) => n + 1)
          expect(w.current(v.page)).toBeGreaterThan(0)
        }
      })
    const t = track(await app.test({ startTime: T0 }))
    const send = (page: string, ts: number) => t.topics.views.send({ page }, { key: page, timestamp: ts })
    await send('home', T0 + 1_000)
    await send('home', T0 + 59_999)
    await send('home', T0 + 60_000)
    await send('about', T0 - 1)
    await t.idle()
    const table = t.tables['per-minute']
    expect(table.windows('home')).toEqual([
      { start: T0, end: T0 + 60_000, value: 2 },
      { start: T0 + 60_000, end: T0 + 120_000, value: 1 },
    ])
    expect(table.windows('about')).toEqual([{ start: T0 - 60_000, end: T0, value: 1 }])
    expect(table.now('home')).toBe(2) // the clock is at T0
    expect(table.at(T0 + 60_500).current('home')).toBe(1)
    expect(table.at(T0 + 60_500).delta('home', '1m')).toBe(2)
    expect(table.at(T0 + 60_500).delta('home', '2m')).toBe(0)
    expect([...table.keys()].sort()).toEqual(['about', 'home'])
    // a window whose end is more than `expires` ago is gone
    await t.advance('1h')
    expect(table.windows('about')).toEqual([])
    expect(table.windows('home')).toHaveLength(2)
    await t.advance('2m')
    expect(table.windows('home')).toEqual([])
    expect(table.size).toBe(0)
  })

  it('hopping: one event counts in every window containing it', async () => {
    const app = createApp({ id: 'hop' })
      .topic('views', { value: View, partitions: 1 })
      .table('w', { default: () => 0, window: hopping('10s', '5s') })
      .agent('count', { from: 'views' }, async (s, ctx) => {
        for await (const v of s) ctx.tables.w.update(v.page, (n) => n + 1)
      })
    const t = track(await app.test({ startTime: T0 }))
    await t.topics.views.send({ page: 'p' }, { timestamp: T0 + 7_000 })
    await t.idle()
    expect(t.tables.w.windows('p')).toEqual([
      { start: T0, end: T0 + 10_000, value: 1 },
      { start: T0 + 5_000, end: T0 + 15_000, value: 1 },
    ])
  })

  it('sliding: a window around each event', async () => {
    const app = createApp({ id: 'slide' })
      .topic('views', { value: View, partitions: 1 })
      .table('w', { default: () => 0, window: sliding('5s', '5s') })
      .agent('count', { from: 'views' }, async (s, ctx) => {
        for await (const v of s) ctx.tables.w.update(v.page, (n) => n + 1)
      })
    const t = track(await app.test({ startTime: T0 }))
    await t.topics.views.send({ page: 'p' }, { timestamp: T0 + 10_000 })
    await t.idle()
    expect(t.tables.w.windows('p')).toEqual([{ start: T0 + 5_000, end: T0 + 15_001, value: 1 }])
  })

  it('windowed writes outside an agent use the clock time', async () => {
    const app = createApp({ id: 'wt' })
      .table('w', { default: () => 0, window: tumbling('1m') })
      .timer('bump', { every: '1m' }, (ctx) => ctx.tables.w.update('k', (n) => n + 1))
    const t = track(await app.test({ startTime: T0 }))
    await t.advance('3m')
    expect(t.tables.w.windows('k').map((w) => w.start)).toEqual([T0 + 60_000, T0 + 120_000, T0 + 180_000])
  })
})

describe('timers on the live clock', () => {
  it('never overlaps runs when a run is slower than its interval, and stops on shutdown', async () => {
    let running = 0
    let maxRunning = 0
    let runs = 0
    const app = createApp({
      id: 'slow',
      broker: 'memory://',
      store: 'memory://',
      web: { enabled: false },
    }).timer('slow', { every: '20ms' }, async () => {
      runs++
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise((r) => setTimeout(r, 70))
      running--
    })
    const w = await app.start({ logLevel: 'silent' })
    await new Promise((r) => setTimeout(r, 400))
    await w.stop()
    const after = runs
    await new Promise((r) => setTimeout(r, 100))
    expect(maxRunning).toBe(1)
    expect(runs).toBeGreaterThanOrEqual(2)
    expect(runs).toBe(after) // nothing fires after stop
  })
})
