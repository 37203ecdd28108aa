/**
 * Session windows: a key's events closer than the gap share a session from
 * its first event to its last plus the gap; an event within the gap of two
 * sessions merges them (values by `merge`), and the merged-away session is
 * deleted in the same commit. A session's end is stored with its value, so a
 * worker rebuilding from the changelog alone has the same sessions; expired
 * sessions go.
 */
import { describe, expect, it } from 'vitest'
import { createApp, Schema, session } from '../src/index.ts'
import { MemoryBroker } from '../src/runtime/index.ts'
import { startFromChangelog, startOn, tablesOf, topicsOf } from './helpers.ts'

const T0 = Date.UTC(2026, 0, 1)
const s = (n: number) => T0 + n * 1000

const app = () =>
  createApp({ id: 'sessions', logLevel: 'silent' })
    .topic('clicks', { key: Schema.String, value: Schema.Number, partitions: 1 })
    .table('visits', {
      default: () => 0,
      window: session('30s', { merge: (a: number, b: number) => a + b, expires: '1h' }),
    })
    .agent('count', { from: 'clicks' }, async (clicks, ctx) => {
      for await (const [user] of clicks.items()) ctx.tables.visits.update(user, (n) => n + 1)
    })

/** Clicks of `ann` at these seconds after T0, in this order. */
const CLICKS = [0, 10, 20, 100, 60, 75]

describe('session windows', () => {
  it('groups events by gap and merges sessions an event bridges', async () => {
    const t = await app().test({ startTime: s(200), logLevel: 'silent' })
    try {
      for (const at of CLICKS) await t.topics.clicks.send(1, { key: 'ann', timestamp: s(at) })
      await t.topics.clicks.send(1, { key: 'bob', timestamp: s(5) })
      await t.idle()
      const visits = t.tables.visits
      expect(visits.windows('ann')).toEqual([
        { start: s(0), end: s(50), value: 3 },
        // 60 started [60, 90), 100 [100, 130); 75 is within the gap of both: one session
        { start: s(60), end: s(130), value: 3 },
      ])
      expect(visits.windows('bob')).toEqual([{ start: s(5), end: s(35), value: 1 }])
      expect(visits.at(s(110)).current('ann')).toBe(3)
      expect(visits.at(s(55)).current('ann')).toBe(0) // between sessions
      await t.commit()
      const log = t
        .sent('sessions-visits-changelog')
        .map((r) => [Buffer.from(r.key as Uint8Array).toString(), r.value === null ? null : String(r.value)])
      // The merged-away session [100, 130) is a tombstone; the merged one carries its end.
      expect(log).toContainEqual([`${s(100)}:ann`, null])
      expect(log).toContainEqual([`${s(60)}:ann`, `[3,${s(130)}]`])
      expect(log).toContainEqual([`${s(0)}:ann`, `[3,${s(50)}]`])
      await t.advance('2h')
      expect(visits.windows('ann')).toEqual([]) // expired
    } finally {
      await t.stop()
    }
  })

  it('a worker with an empty store rebuilds the same sessions from the changelog', async () => {
    const broker = new MemoryBroker()
    const def = app().definition
    const a = await startOn(def, broker, { testClockAt: s(200) })
    const clicks = topicsOf(a).clicks!
    for (const at of CLICKS) await clicks.send(1, { key: 'ann', timestamp: s(at) })
    await a.idle()
    await a.stop()
    const b = await startFromChangelog(def, broker, { testClockAt: s(200) })
    try {
      type W = { windows(k: string): unknown[] }
      expect(tablesOf<W>(b).visits!.windows('ann')).toEqual([
        { start: s(0), end: s(50), value: 3 },
        { start: s(60), end: s(130), value: 3 },
      ])
    } finally {
      await b.stop()
      await broker.close()
    }
  })

  it('refuses a session window without merge', () => {
    // @ts-expect-error merge is required
    expect(() => session('1m', {})).toThrow(/session window: merge must be a function/)
  })
})
