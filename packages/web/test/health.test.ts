/**
 * GET /health as a deploy reads it: 200 only once the worker runs and its
 * group has gone GROUP_SETTLE_MS without an assignment change, 503 with the
 * reason before that and after every rebalance. The workers run on the test
 * clock (memory broker and store, real HTTP), so the settle period is crossed
 * by moving time, never by sleeping.
 */
import { GROUP_SETTLE_MS, MemoryBroker } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { parsePrometheus, type Running, sampleValue, shop, startWeb } from './helpers.ts'

const START = Date.UTC(2026, 0, 1)

const health = async (w: Running) => {
  const res = await fetch(`${w.url}/health`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const advance = (w: Running, ms: number) => w.rt.testClock!.advance(ms)

/** The readiness gauges of /metrics, for alerting on what /health says. */
const gauges = async (w: Running) => {
  const e = parsePrometheus(await (await fetch(`${w.url}/metrics`)).text())
  return {
    ready: sampleValue(e, 'stream_app_ready'),
    rebalancing: sampleValue(e, 'stream_app_group_rebalancing'),
  }
}

describe('/health readiness', () => {
  it('is 503 "rebalancing" right after the start, 200 once no assignment changed for the settle period', async () => {
    const w = await startWeb(shop().definition, { testClockAt: START })
    try {
      const first = await health(w)
      expect(first.status).toBe(503)
      expect(first.body).toMatchObject({
        status: 'rebalancing',
        state: 'running',
        group: 'rebalancing',
        reason: expect.stringContaining('rebalancing'),
        pid: process.pid,
        partitions: { orders: [0, 1] },
        lastRebalance: { kind: 'assigned', partitions: { orders: [0, 1] }, secondsAgo: 0 },
      })
      expect(await gauges(w)).toEqual({ ready: 0, rebalancing: 1 })
      await advance(w, GROUP_SETTLE_MS - 1)
      expect((await health(w)).status).toBe(503)
      await advance(w, 1)
      expect(await gauges(w)).toEqual({ ready: 1, rebalancing: 0 })
      const ready = await health(w)
      expect(ready.status).toBe(200)
      expect(ready.body).toMatchObject({ status: 'ok', state: 'running', group: 'stable' })
      expect(ready.body.reason).toBeUndefined()
      expect(ready.body.lastRebalance).toMatchObject({ secondsAgo: GROUP_SETTLE_MS / 1000 })
      // HEAD for probes that do not read a body.
      expect((await fetch(`${w.url}/health`, { method: 'HEAD' })).status).toBe(200)
    } finally {
      await w.stop()
    }
  })

  it('goes back to 503 on a worker whose partitions move when another joins, and says which moved', async () => {
    const broker = new MemoryBroker()
    const a = await startWeb(shop().definition, { broker, testClockAt: START })
    let b: Running | undefined
    try {
      await advance(a, GROUP_SETTLE_MS)
      expect((await health(a)).status).toBe(200)
      b = await startWeb(shop().definition, { broker, testClockAt: START })
      // The joiner took one of the two partitions from a: both are rebalancing now.
      const moved = await health(a)
      expect(moved.status).toBe(503)
      expect(moved.body).toMatchObject({ status: 'rebalancing', group: 'rebalancing' })
      expect(moved.body.lastRebalance).toMatchObject({ kind: expect.stringMatching(/^(assigned|revoked)$/) })
      expect((await health(b)).body).toMatchObject({ status: 'rebalancing', group: 'rebalancing' })
      await advance(a, GROUP_SETTLE_MS)
      await advance(b, GROUP_SETTLE_MS)
      const [ha, hb] = [await health(a), await health(b)]
      expect([ha.status, hb.status]).toEqual([200, 200])
      // Between them they process both partitions, one each.
      const held = [ha, hb].map((h) => (h.body.partitions as { orders?: number[] }).orders ?? [])
      expect(held.flat().sort()).toEqual([0, 1])
      expect(held.map((p) => p.length)).toEqual([1, 1])
    } finally {
      await b?.stop()
      await a.stop()
    }
  })

  it('waits for the longer settle period its group consumer asks for (a protocol with slower steps)', async () => {
    const inner = new MemoryBroker()
    // The memory broker with a consumer that says rebalance steps may come 5 s apart.
    const broker = new Proxy(inner, {
      get: (target, key) =>
        key === 'groupConsumer'
          ? (o: Parameters<MemoryBroker['groupConsumer']>[0]) =>
              Object.assign(target.groupConsumer(o), { rebalanceSettleMs: 5_000 })
          : Reflect.get(target, key, target),
    })
    const w = await startWeb(shop().definition, { broker, testClockAt: START })
    try {
      await advance(w, GROUP_SETTLE_MS)
      const early = await health(w)
      expect(early.status).toBe(503)
      expect(early.body.reason).toContain('5000 ms')
      await advance(w, 5_000 - GROUP_SETTLE_MS)
      expect((await health(w)).status).toBe(200)
    } finally {
      await w.stop()
      await inner.close()
    }
  })

  it('says why it is not ready once stopped', async () => {
    const w = await startWeb(shop().definition, { testClockAt: START })
    await advance(w, GROUP_SETTLE_MS)
    expect((await health(w)).status).toBe(200)
    // The web server closes with the worker: read the state through the view instead.
    await w.stop()
    expect(w.rt.readiness()).toMatchObject({
      ready: false,
      state: 'stopped',
      reason: 'the worker has stopped',
    })
  })
})
