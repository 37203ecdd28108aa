/**
 * Event time done right: a window takes events until stream time (the newest
 * event time of its partition) passes its end plus grace; later events go to
 * onLate (a function, the dead-letter topic, or skipped); a table with `final`
 * emits each window's value exactly once when it closes. The emitted mark is
 * stored with the window, so a restart (a worker with only the changelog) and a
 * rebalance in the middle of a window neither lose nor repeat an emission.
 */
import { describe, expect, it } from 'vitest'
import { createApp, type LateEvent, Schema, tumbling } from '../src/index.ts'
import { MemoryBroker, partitionForKey, type WorkerRuntime } from '../src/runtime/index.ts'
import { startFromChangelog, startOn, topicsOf } from './helpers.ts'

const T0 = Date.UTC(2026, 0, 1)
const at = (sec: number) => T0 + sec * 1000
const Total = Schema.Struct({ start: Schema.Number, end: Schema.Number, value: Schema.Number })

const app = (onLate: 'skip' | 'dead-letter' | ((e: LateEvent) => void) = 'skip', partitions = 1) =>
  createApp({ id: 'final', logLevel: 'silent' })
    .topic('clicks', { key: Schema.String, value: Schema.Number, partitions })
    .topic('minute-totals', { key: Schema.String, value: Total, partitions })
    .table('per-minute', {
      default: () => 0,
      window: tumbling('1m', { grace: '10s' }),
      final: 'minute-totals',
      onLate,
    })
    .agent('count', { from: 'clicks' }, async (clicks, ctx) => {
      for await (const [user] of clicks.items()) ctx.tables['per-minute'].update(user, (n) => n + 1)
    })

const clicksOf = (w: WorkerRuntime) => topicsOf(w).clicks!
const totals = (broker: MemoryBroker) =>
  broker.sentTo('minute-totals').map((r) => ({
    key: Buffer.from(r.key as Uint8Array).toString(),
    ...(JSON.parse(Buffer.from(r.value as Uint8Array).toString()) as {
      start: number
      end: number
      value: number
    }),
  }))

describe('grace, late events and final results', () => {
  it('updates within grace, sends later events to onLate, emits each closed window once', async () => {
    const late: LateEvent[] = []
    const t = await app((e) => late.push(e)).test({ logLevel: 'silent' })
    try {
      const click = (sec: number) => t.topics.clicks.send(1, { key: 'ann', timestamp: at(sec) })
      await click(0)
      await click(30)
      await click(65) // stream time 65: [0, 60) is past its end, within grace
      await click(55) // late but within grace: counts
      await t.idle()
      expect(t.sent('minute-totals')).toEqual([])
      await click(71) // stream time 71 ≥ 60 + 10: [0, 60) closes and emits
      await click(50) // its only window closed: late
      await click(72)
      await t.idle()
      expect(t.sent('minute-totals').map((e) => [e.key, e.value])).toEqual([
        ['ann', { start: at(0), end: at(60), value: 3 }],
      ])
      expect(late.map((e) => [e.key, e.timestamp, e.offset, e.streamTime])).toEqual([
        ['ann', at(50), 5, at(71)],
      ])
      expect(t.tables['per-minute'].at(at(30)).current('ann')).toBe(3)
      await t.commit()
      const log = t
        .sent('final-per-minute-changelog')
        .map((r) => [Buffer.from(r.key as Uint8Array).toString(), String(r.value)])
      expect(log).toContainEqual([`${at(0)}:ann`, `[3,${at(60)},1]`]) // emitted, stored with the window
      expect(log).toContainEqual([`${at(60)}:ann`, `[3,${at(120)}]`])
    } finally {
      await t.stop()
    }
  })

  it('sends late events to the dead-letter topic with the reason', async () => {
    const t = await app('dead-letter').test({ logLevel: 'silent' })
    try {
      for (const sec of [0, 80, 5]) await t.topics.clicks.send(1, { key: 'ann', timestamp: at(sec) })
      await t.idle()
      const dead = t.sent('clicks.dead-letter')
      expect(dead).toHaveLength(1)
      expect(dead[0]!.timestamp).toBe(at(5))
      expect(String(dead[0]!.headers['stream-app.error'])).toBe(
        `late: its windows closed at stream time ${at(80)}`,
      )
    } finally {
      await t.stop()
    }
  })

  it('a restart with only the changelog neither repeats nor loses an emission, and keeps its stream time', async () => {
    const broker = new MemoryBroker('memory://', { recordSends: true })
    const late: LateEvent[] = []
    const def = app((e) => late.push(e)).definition
    const a = await startOn(def, broker)
    for (const sec of [0, 20, 61, 75]) await clicksOf(a).send(1, { key: 'ann', timestamp: at(sec) })
    await a.idle()
    await a.stop() // [0, 60) emitted; [60, 120) open
    expect(totals(broker).map((x) => x.value)).toEqual([2])
    const b = await startFromChangelog(def, broker)
    try {
      // Stream time comes back with the rows (75): an event for the emitted window [0, 60) is late
      // at once, not counted into a window whose final value went out; 76 closes nothing; 131
      // closes [60, 120) only.
      for (const sec of [5, 76, 131]) await clicksOf(b).send(1, { key: 'ann', timestamp: at(sec) })
      await b.idle()
      expect(late.map((e) => [e.timestamp, e.streamTime])).toEqual([[at(5), at(75)]])
      expect(totals(broker).map((x) => [x.start, x.value])).toEqual([
        [at(0), 2],
        [at(60), 3],
      ])
    } finally {
      await b.stop()
      await broker.close()
    }
  })

  it('a rebalance in the middle of a window: the new owner emits it once, with every event', async () => {
    const broker = new MemoryBroker('memory://', { recordSends: true })
    const def = app('skip', 2).definition
    // Keys of both partitions, so the second worker takes one over while its windows are open.
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].filter((k, _i, all) =>
      all.some((o) => partitionForKey(Buffer.from(o), 2) !== partitionForKey(Buffer.from(k), 2)),
    )
    const a = await startOn(def, broker)
    for (const k of keys) await clicksOf(a).send(1, { key: k, timestamp: at(10) })
    await a.idle()
    const b = await startOn(def, broker)
    try {
      for (const k of keys) await clicksOf(a).send(1, { key: k, timestamp: at(20) })
      for (const k of keys) await clicksOf(a).send(1, { key: k, timestamp: at(90) }) // closes [0, 60)
      const deadline = Date.now() + 10_000
      while (totals(broker).length < keys.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 200)) // nothing more comes
      const got = totals(broker)
      expect(got.map((x) => x.key).sort()).toEqual([...keys].sort())
      expect(got.every((x) => x.start === at(0) && x.value === 2)).toBe(true)
    } finally {
      await a.stop()
      await b.stop()
      await broker.close()
    }
  })
})
