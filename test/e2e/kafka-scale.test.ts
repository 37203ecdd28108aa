/**
 * Scale out on real Kafka: two, then three `stream-app run` processes of one
 * app share the partitions of two co-partitioned topics and their tables
 * (range assignor: partition p of both topics, and table partition p, on one
 * worker); every event is counted exactly once while nothing fails; any worker
 * answers GET /tables/:table/:key for any key (forwarded to the owner); and a
 * SIGKILLed worker's partitions move to the others with nothing lost.
 */
import { afterAll, describe, expect, it } from 'vitest'
import {
  COUNTER_APP,
  cliAsync,
  getJson,
  KAFKA_POLL,
  lines,
  openBroker,
  readTopic,
  runWorker,
  tempDir,
  text,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll, type WorkerProcess } from './proc.ts'

const PARTITIONS = 6
const KEYS = 60
const BATCH = 3000
const CLICKS = 600

const dir = tempDir('kafka-scale')
afterAll(async () => {
  await killAll()
  dir.remove()
})

/**
 * The partitions of a topic the worker holds, as its latest assignment change says (`held`: a
 * rebalance is incremental, so the change itself names only what moved).
 */
function assigned(w: WorkerProcess, topic: string): number[] | undefined {
  const last = lines(w, /partitions (assigned|revoked)/).at(-1)
  if (!last) return undefined
  const held = /held="?([^"\n]*)/.exec(last)?.[1] ?? ''
  const m = new RegExp(`${topic}\\[([\\d,]*)\\]`).exec(held)
  return m ? m[1]!.split(',').filter(Boolean).map(Number) : []
}

/** Waits until the workers' latest assignments split the partitions of both topics evenly and co-partitioned. */
async function balanced(workers: readonly WorkerProcess[], id: string): Promise<number[][]> {
  return until(
    `${workers.length} workers to share ${PARTITIONS} partitions`,
    () => {
      const events = workers.map((w) => assigned(w, `${id}-events`))
      const clicks = workers.map((w) => assigned(w, `${id}-clicks`))
      const all = events.flatMap((e) => e ?? []).sort((a, b) => a - b)
      const even = events.every((e) => e?.length === PARTITIONS / workers.length)
      const same = events.every((e, i) => JSON.stringify(e) === JSON.stringify(clicks[i]))
      return even && same && all.join() === Array.from({ length: PARTITIONS }, (_, p) => p).join()
        ? (events as number[][])
        : undefined
    },
    KAFKA_POLL,
  )
}

/** Reads every key of a table through every worker's HTTP API until each matches `ok`. */
async function tableEverywhere(
  workers: readonly WorkerProcess[],
  table: string,
  ok: (key: string, value: number) => boolean,
): Promise<Map<string, number>> {
  const urls = await Promise.all(workers.map((w) => w.url()))
  const seen = new Map<string, number>()
  await until(
    `table '${table}' on every worker`,
    async () => {
      for (let k = 0; k < KEYS; k++) {
        const key = `k${k}`
        for (const url of urls) {
          const r = await getJson<{ key: string; value: number }>(`${url}/tables/${table}/${key}`)
          if (r.status !== 200 || !ok(key, r.body.value)) return undefined
          seen.set(key, r.body.value)
        }
      }
      return true
    },
    { timeoutMs: 90_000, everyMs: 500 },
  )
  return seen
}

describe('kafka://: scaling out across worker processes', () => {
  it('shares co-partitioned topics and tables between 2 then 3 workers, answers any key anywhere, and survives a SIGKILL', async () => {
    const id = uniq('scale')
    const env = { E2E_ID: id, E2E_PARTITIONS: String(PARTITIONS) }
    const produce = async (from: number, count: number, clicks = false) => {
      const r = await cliAsync(
        [
          'produce',
          COUNTER_APP,
          '--from',
          String(from),
          '--count',
          String(count),
          '--keys',
          String(KEYS),
        ].concat(clicks ? ['--clicks'] : []),
        { env, cwd: dir.path },
      )
      expect(r.code, r.err).toBe(0)
    }

    // Two workers.
    const a = runWorker(COUNTER_APP, 'a', dir.path, env)
    await a.url()
    const b = runWorker(COUNTER_APP, 'b', dir.path, env)
    await b.url()
    await balanced([a, b], id)
    await produce(0, BATCH)
    await produce(0, CLICKS, true)
    await tableEverywhere([a, b], 'counts', (_, v) => v === BATCH / KEYS)

    // A third worker takes a third of the partitions; the revoked ones were committed first.
    const c = runWorker(COUNTER_APP, 'c', dir.path, env)
    await c.url()
    const split = await balanced([a, b, c], id)
    expect(split.every((ps) => ps.length === 2)).toBe(true)
    await produce(BATCH, BATCH)
    await produce(CLICKS, CLICKS, true)
    // Exactly once while nothing fails: every key counted exactly, read through every worker.
    const counts = await tableEverywhere([a, b, c], 'counts', (_, v) => v >= (2 * BATCH) / KEYS)
    expect([...counts.values()]).toEqual(Array(KEYS).fill((2 * BATCH) / KEYS))
    const clicks = await tableEverywhere([a, b, c], 'clicks', (_, v) => v >= (2 * CLICKS) / KEYS)
    expect([...clicks.values()]).toEqual(Array(KEYS).fill((2 * CLICKS) / KEYS))
    // The sink holds every event once.
    const broker = await openBroker()
    try {
      const sunk = (await readTopic(broker, `${id}-out`)).map(
        (r) => (JSON.parse(text(r.value)!) as { id: string }).id,
      )
      expect(sunk).toHaveLength(2 * BATCH)
      expect(new Set(sunk).size).toBe(2 * BATCH)
    } finally {
      await broker.close()
    }

    // SIGKILL one: after the session timeout its partitions go to the survivors, which rebuild
    // its table partitions from the changelog. At least once: nothing missing, duplicates allowed.
    const victim = c
    const victimParts = assigned(victim, `${id}-events`)!
    await victim.kill()
    await produce(2 * BATCH, BATCH)
    await balanced([a, b], id)
    const after = await tableEverywhere([a, b], 'counts', (_, v) => v >= (3 * BATCH) / KEYS)
    expect(after.size).toBe(KEYS)
    for (const v of after.values()) expect(v).toBeGreaterThanOrEqual((3 * BATCH) / KEYS)
    const takers = [a, b].filter((w) => victimParts.some((p) => assigned(w, `${id}-events`)!.includes(p)))
    expect(takers.length).toBeGreaterThan(0)
    for (const w of takers) {
      expect(lines(w, /partitions revoked/).length).toBeGreaterThan(0)
      expect(lines(w, /recovering table 'counts'/).length).toBeGreaterThan(0)
      expect(lines(w, /recovery finished/).length).toBeGreaterThan(0)
    }
    const broker2 = await openBroker()
    try {
      const ids = new Set(
        (await readTopic(broker2, `${id}-out`)).map((r) => (JSON.parse(text(r.value)!) as { id: string }).id),
      )
      for (let n = 0; n < 3 * BATCH; n++)
        if (!ids.has(`e${n}`)) expect.fail(`event e${n} never reached the sink`)
    } finally {
      await broker2.close()
    }
    expect(await a.stop()).toBe(0)
    expect(await b.stop()).toBe(0)
  }, 240_000)
})
