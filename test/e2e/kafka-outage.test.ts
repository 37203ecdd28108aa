/**
 * The broker going away: with a worker running, its Kafka broker is stopped
 * for ~10 s and started again. The worker logs the outage, keeps its HTTP
 * server answering (/health and the app's own routes) while Kafka is gone,
 * resumes once it is back, and loses nothing: every event sent before and
 * after the outage is counted.
 *
 * The broker here is the test's own (kafka-private-broker.ts), not the shared
 * one: stopping the shared broker would hit every test file vitest runs in
 * parallel, and anything else using it, with the same outage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  COUNTER_APP,
  cliAsync,
  explained,
  getJson,
  lines,
  runWorker,
  tempDir,
  uniq,
  until,
} from './kafka-helpers.ts'
import { type PrivateKafka, privateKafka } from './kafka-private-broker.ts'
import { killAll } from './proc.ts'

const KEYS = 10
const BATCH = 500
const OUTAGE_MS = 10_000

const dir = tempDir('kafka-outage')
let kafka: PrivateKafka
beforeAll(async () => {
  kafka = await privateKafka()
  await kafka.start()
}, 120_000)
afterAll(async () => {
  await killAll()
  await kafka?.destroy()
  dir.remove()
}, 60_000)

describe('kafka://: the broker going away', () => {
  it('keeps answering HTTP during a broker outage, logs it, resumes and loses nothing', async () => {
    const id = uniq('outage')
    const env = { E2E_ID: id, E2E_PARTITIONS: '2', STREAM_APP_BROKER: `kafka://${kafka.bootstrap}` }
    const produce = async (from: number) => {
      const r = await cliAsync(
        ['produce', COUNTER_APP, '--from', String(from), '--count', String(BATCH), '--keys', String(KEYS)],
        { env, cwd: dir.path },
      )
      expect(r.code, r.err).toBe(0)
    }
    /** Every key's count, once each is at least n (at-least-once: redeliveries may add to it). */
    const counted = (url: string, n: number) => {
      let last: number[] = []
      return until(
        `every key counted at least ${n} times`,
        async () => {
          last = []
          for (let k = 0; k < KEYS; k++)
            last.push((await getJson<{ value: number }>(`${url}/tables/counts/k${k}`)).body.value)
          return last.every((v) => v >= n) ? last : undefined
        },
        { timeoutMs: 90_000, everyMs: 500 },
      ).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}; counts: ${last.join(',')}`)
      })
    }

    const worker = runWorker(COUNTER_APP, 'w', dir.path, env)
    const url = await worker.url()
    await produce(0)
    // Nothing has failed yet: exactly once.
    expect(await counted(url, BATCH / KEYS)).toEqual(Array(KEYS).fill(BATCH / KEYS))
    const before = worker.log().length

    await kafka.stop()
    const down = Date.now()
    const during: { health: number; ping: number }[] = []
    while (Date.now() - down < OUTAGE_MS) {
      const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) })
      const ping = await getJson<{ pong: boolean }>(`${url}/ping`)
      during.push({ health: health.status, ping: ping.status })
      expect(ping.body.pong).toBe(true)
      await new Promise((r) => setTimeout(r, 1000))
    }
    expect(worker.child.exitCode).toBeNull()
    // /health answers (200 while the worker runs; 503 would mean it is recovering), and so do user routes.
    expect(during.length).toBeGreaterThanOrEqual(5)
    for (const d of during) {
      expect([200, 503]).toContain(d.health)
      expect(d.ping).toBe(200)
    }
    await kafka.start()

    // Resumes: events sent after the outage are counted on top of the ones before. What was
    // processed but not yet committed when Kafka went away may be counted again (at-least-once).
    await produce(BATCH)
    await explained(counted(url, (2 * BATCH) / KEYS), [worker])
    const outageLog = worker.log().slice(before)
    expect(
      outageLog.split('\n').filter((l) => /WARN|ERROR/.test(l)),
      `the outage is logged:\n${outageLog}`,
    ).not.toEqual([])
    expect(
      lines(worker, /Connect to .* failed|Connection refused|brokers are down|unreachable/).length,
    ).toBeGreaterThan(0)
    expect(await worker.stop()).toBe(0)
  }, 240_000)
})
