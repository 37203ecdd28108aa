/**
 * A rolling deploy on Kafka, as an operator runs one: three workers (each its
 * own datadir, hence its own stable worker id) counting per key under
 * exactly_once, a preloaded table, a steady load, and a read_committed reader
 * timing every output. Each worker in turn is stopped with SIGTERM and started
 * again; then one is killed with SIGKILL and started again.
 *
 * What must hold: nothing lost or duplicated (every event comes out once and
 * every count is exact); a restart within the session timeout causes no
 * rebalance at all (static membership: the other workers are never revoked or
 * assigned anything); the partitions of the workers that were not restarted
 * keep producing output through it (no gap over twice the commit interval plus
 * 500 ms); and the restarted worker replays no changelog record (its store
 * and its commit at the stop are the state).
 */

import type { BrokerRecord } from '@stream-app/core'
import { partitionForKey } from '@stream-app/core/runtime'
import { afterAll, describe, expect, it } from 'vitest'
import {
  COUNTER_APP,
  explained,
  getJson,
  lines,
  openBroker,
  readTopic,
  replayChangelog,
  runWorker,
  tempDir,
  text,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll, type WorkerProcess } from './proc.ts'

const PARTITIONS = 6
const KEYS = 60
const PRELOAD = 3_000
const COMMIT_MS = 100
/** The output gap allowed on a partition whose owner was not restarted. */
const MAX_GAP_MS = 2 * COMMIT_MS + 500

const dir = tempDir('kafka-rolling')
afterAll(async () => {
  await killAll()
  dir.remove()
})

interface Health {
  status: string
  group: string
  partitions: Record<string, number[]>
}

describe('kafka:// rolling deploy', () => {
  it('restarting every worker in turn loses, repeats and rebalances nothing; the others keep flowing', async () => {
    const id = uniq('rolling')
    const events = `${id}-events`
    const out = `${id}-out`
    const env = {
      E2E_ID: id,
      E2E_PARTITIONS: String(PARTITIONS),
      E2E_GUARANTEE: 'exactly_once',
      E2E_COMMIT_INTERVAL: `${COMMIT_MS}ms`,
    }
    const names = ['a', 'b', 'c']
    const workers = new Map<string, WorkerProcess>()
    /** Stopped and killed workers too: their logs explain a failure. */
    const everyone: WorkerProcess[] = []
    const urls = new Map<string, string>()
    const start = async (name: string) => {
      const w = runWorker(COUNTER_APP, `${id}-${name}`, dir.path, env)
      workers.set(name, w)
      everyone.push(w)
      urls.set(name, await w.url())
      return w
    }
    const all = () => everyone
    const health = async (name: string) => (await getJson<Health>(`${urls.get(name)}/health`)).body
    const ready = (name: string) =>
      explained(
        until(
          `worker ${name} ready and its group stable`,
          async () => {
            const h = await getJson<Health>(`${urls.get(name)}/health`)
            return h.status === 200
          },
          { timeoutMs: 90_000, everyMs: 200 },
        ),
        all(),
      )
    for (const n of names) await start(n)
    await explained(
      until(
        'the partitions split over three workers',
        async () => {
          const held = await Promise.all(names.map(async (n) => (await health(n)).partitions[events] ?? []))
          return held.every((h) => h.length === PARTITIONS / 3) && (await Promise.all(names.map(ready)))
        },
        { timeoutMs: 90_000, everyMs: 250 },
      ),
      all(),
    )

    // The load comes from this process (no CLI process to start or to fail under load).
    const broker = await openBroker()
    const send = (from: number, count: number) =>
      broker.producer().send(
        Array.from({ length: count }, (_, i) => {
          const n = from + i
          const key = Buffer.from(`k${n % KEYS}`)
          return {
            topic: events,
            partition: partitionForKey(key, PARTITIONS),
            key,
            value: Buffer.from(JSON.stringify({ id: `e${n}`, n })),
            timestamp: Date.now(),
          }
        }),
      )
    for (let n = 0; n < PRELOAD; n += 500) await send(n, 500)

    // Every output as the read_committed reader sees it, with when it arrived.
    const arrivals: { partition: number; at: number; id: string }[] = []
    const reader = broker.reader(
      Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: out, partition, offset: 0 })),
      { readCommitted: true },
    )
    let reading = true
    const readLoop = (async () => {
      while (reading)
        for (const b of await reader.fetch({ maxRecords: 5_000, maxWaitMs: 100 })) {
          const at = Date.now()
          for (const r of b.records)
            arrivals.push({
              partition: b.partition,
              at,
              id: (JSON.parse(text(r.value)!) as { id: string }).id,
            })
        }
    })()

    // A steady 200 events/s (20 every 100 ms) until the restarts are done.
    const LOAD_CHUNK = 20
    let sent = PRELOAD
    let loading = true
    const load = (async () => {
      const started = Date.now()
      while (loading) {
        await send(sent, LOAD_CHUNK)
        sent += LOAD_CHUNK
        const due = started + ((sent - PRELOAD) / LOAD_CHUNK) * 100
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()))
      }
    })()
    const rebalances = (w: WorkerProcess) => lines(w, /partitions (assigned|revoked)/).length
    const restarts: { name: string; others: number[]; from: number; to: number }[] = []
    try {
      // Steady state first, so every partition has output to measure gaps against.
      await until(
        'output from every partition',
        () => new Set(arrivals.map((a) => a.partition)).size === PARTITIONS,
        { timeoutMs: 60_000 },
      )
      for (const name of names) {
        const others = names.filter((n) => n !== name)
        const before = new Map(others.map((n) => [n, rebalances(workers.get(n)!)]))
        const otherParts = (
          await Promise.all(others.map(async (n) => (await health(n)).partitions[events] ?? []))
        ).flat()
        const from = Date.now()
        const old = workers.get(name)!
        expect(await old.stop()).toBe(0)
        const w = await explained(start(name), all())
        await ready(name)
        const to = Date.now()
        restarts.push({ name, others: otherParts, from, to })
        // Static membership: back within the session timeout, nothing moved anywhere.
        for (const n of others)
          expect(rebalances(workers.get(n)!), `worker ${n} saw a rebalance while ${name} restarted`).toBe(
            before.get(n),
          )
        expect(lines(w, /partitions revoked/)).toEqual([])
        // Its tables came from its own store, committed at the stop: no changelog record replayed.
        expect(lines(w, /recovery finished/)).toEqual([])
      }
      // A crash: SIGKILL, and the same worker back within the session timeout.
      const victim = workers.get('b')!
      await victim.kill()
      await start('b')
      await ready('b')
    } finally {
      loading = false
      await load
    }
    const total = sent
    await explained(
      until('every event out', () => new Set(arrivals.map((a) => a.id)).size === total, {
        timeoutMs: 90_000,
        everyMs: 250,
      }),
      all(),
    )
    reading = false
    await readLoop
    await reader.close()

    // Nothing lost, nothing twice (read_committed sees committed transactions only).
    const outs: BrokerRecord[] = await readTopic(broker, out, { readCommitted: true })
    const ids = outs.map((r) => (JSON.parse(text(r.value)!) as { id: string }).id)
    expect(ids.length).toBe(total)
    expect(new Set(ids).size).toBe(total)
    // Every count exact in the changelog (event n is keyed k<n % KEYS>).
    const counts = replayChangelog(await readTopic(broker, `${id}-counts-changelog`, { readCommitted: true }))
    for (let k = 0; k < KEYS; k++)
      expect(counts.get(JSON.stringify(`k${k}`)) ?? counts.get(`k${k}`), `count of k${k}`).toBe(
        Math.floor(total / KEYS) + (k < total % KEYS ? 1 : 0),
      )
    await broker.close()

    // The partitions of the workers that kept running flowed on through each restart.
    const gaps: string[] = []
    for (const r of restarts) {
      for (const p of r.others) {
        const times = arrivals
          .filter((a) => a.partition === p && a.at >= r.from && a.at <= r.to)
          .map((a) => a.at)
        let longest = 0
        let prev = r.from
        for (const t of times) {
          longest = Math.max(longest, t - prev)
          prev = t
        }
        longest = Math.max(longest, r.to - prev)
        gaps.push(`restart of ${r.name} (${r.to - r.from} ms): partition ${p} longest gap ${longest} ms`)
        expect(longest, gaps.join('\n')).toBeLessThanOrEqual(MAX_GAP_MS)
      }
    }
    console.log(gaps.join('\n'))
  }, 420_000)
})
