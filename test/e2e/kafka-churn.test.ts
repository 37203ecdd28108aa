/**
 * The churn / table integrity scenario from Faust (examples/tabletest.py,
 * tests/consistency, tests/stress/killer.py) on real Kafka under exactly-once:
 * a producer writes 0..9,999 to each of 4 partitions while 1–3 workers are
 * started and stopped at random (SIGTERM and SIGKILL), mostly just after a
 * rebalance, when the workers catch up on a backlog in large transactions. At the end every
 * partition's running sum is exactly 49,995,000 with no value out of order,
 * the table equals a rebuild from the source topic, and the changelog (read
 * with read_committed) replays to the same table, every record of it a
 * consistent prefix sum.
 */
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrokerRecord } from '@stream-app/core'
import { afterAll, describe, expect, it } from 'vitest'
import { partitionKey } from './fixtures/kafka-tabletest.ts'
import {
  cliAsync,
  getJson,
  openBroker,
  readTopic,
  replayChangelog,
  runWorker,
  TABLETEST_APP,
  tempDir,
  text,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll, type WorkerProcess } from './proc.ts'

const PARTITIONS = 4
const COUNT = 10_000
const RATE = 200 // per partition per second: the producer runs for ~50 s
const SUM = (COUNT * (COUNT - 1)) / 2 // 49,995,000
const CHURN_MS = 45_000

interface Sums {
  sum: number
  count: number
  last: number
  gaps: number
}

const dir = tempDir('kafka-churn')
afterAll(async () => {
  await killAll()
  dir.remove()
})

/** A small seeded generator, so a failing run's churn can be replayed from its seed. */
const rng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}

describe('kafka://: table integrity under worker churn (exactly-once)', () => {
  it('ends with every partition summing to 49,995,000, equal to a rebuild from the source and to the changelog', async () => {
    const id = uniq('churn')
    const seed = Number(process.env.E2E_CHURN_SEED ?? Date.now() % 100_000)
    const random = rng(seed)
    // Frequent commits: more of the kills land inside an open transaction.
    const env = { E2E_ID: id, E2E_PARTITIONS: String(PARTITIONS), E2E_COMMIT_INTERVAL: '100ms' }
    const timeline: string[] = [`seed ${seed}`]
    const t0 = Date.now()
    const note = (s: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${s}`)

    const running = new Map<string, WorkerProcess>()
    const all: WorkerProcess[] = []
    const start = () => {
      // Three datadirs, reused like restarted machines, never two running workers on one.
      const busy = new Set([...running.keys()].map((k) => k.split('#')[0]))
      const name = ['w0', 'w1', 'w2'].find((n) => !busy.has(n))!
      const w = runWorker(TABLETEST_APP, name, dir.path, env)
      running.set(`${name}#${w.pid}`, w)
      all.push(w)
      note(`start ${name} pid ${w.pid}`)
      return w
    }
    start()
    await running.values().next().value!.url()
    const producing = cliAsync(
      ['produce-seq', TABLETEST_APP, '--count', String(COUNT), '--rate', String(RATE)],
      {
        env,
        cwd: dir.path,
        timeoutMs: 180_000,
      },
    )
    start()

    // Churn in rounds: a worker joins (unless 3 run), and soon after the rebalance, while the
    // workers catch up on the backlog in large transactions, one worker is stopped (SIGKILL or
    // SIGTERM, at random) unless only one runs. Then a short pause.
    while (Date.now() - t0 < CHURN_MS) {
      if (running.size < 3) {
        const joined = start()
        await joined.url().catch(() => {})
        note(`${[...running].find(([, w]) => w === joined)?.[0]} ready`)
      }
      await new Promise((r) => setTimeout(r, 300 + random() * 1500))
      if (running.size > 1) {
        const up = [...running.keys()].filter((k) => /ready .*web=/.test(running.get(k)!.log()))
        const names = up.length ? up : [...running.keys()]
        const victim = names[Math.floor(random() * names.length)]!
        const w = running.get(victim)!
        running.delete(victim)
        if (random() < 0.65) {
          note(`SIGKILL ${victim}`)
          await w.kill()
        } else {
          note(`SIGTERM ${victim}`)
          const code = await w.stop()
          note(`${victim} exited ${code}`)
        }
      }
      await new Promise((r) => setTimeout(r, 1000 + random() * 2000))
    }
    const produced = await producing
    note('producer done')
    expect(produced.code, produced.err).toBe(0)

    // Down to one worker, which then owns every partition and answers for all of them.
    const [keep, ...rest] = [...running.values()]
    for (const w of rest) await w.stop()
    const last = keep ?? start()
    const url = await last.url()
    /** The churn timeline, plus every worker's whole log in a file kept after the run (for a failure's report). */
    const evidence = () => {
      const file = join(tmpdir(), `${id}.log`)
      writeFileSync(file, [timeline.join('\n'), ...all.map((w) => `=== pid ${w.pid}\n${w.log()}`)].join('\n'))
      return `${timeline.join('\n')}\nevery worker's log: ${file}`
    }
    /** Runs an assertion; a failure carries the churn timeline and where every worker's log went. */
    const withEvidence = (check: () => void) => {
      try {
        check()
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${evidence()}`)
      }
    }
    let seen: unknown[] = []
    const table = await until(
      'the last worker to count every value',
      async () => {
        seen = []
        const out: Sums[] = []
        for (let p = 0; p < PARTITIONS; p++) {
          const r = await getJson<{ value: Sums }>(`${url}/tables/sums/${partitionKey(p, PARTITIONS)}`)
          seen.push(r.body)
          if (r.status !== 200 || r.body.value.count < COUNT) return undefined
          out.push(r.body.value)
        }
        return out
      },
      { timeoutMs: 120_000, everyMs: 500 },
    ).catch(async (e) => {
      const metrics = await fetch(`${url}/metrics`)
        .then((r) => r.text())
        .catch((err) => String(err))
      const state = metrics
        .split('\n')
        .filter((l) =>
          /^stream_app_(worker_state|messages_in_total|consumer_|partition_end|commit|table_rows)/.test(l),
        )
      throw new Error(
        `${(e as Error).message}\nlast answers: ${JSON.stringify(seen)}\n${state.join('\n')}\n${evidence()}`,
      )
    })
    note('all counted')
    expect(await last.stop()).toBe(0)

    const expected = Array.from({ length: PARTITIONS }, () => ({
      sum: SUM,
      count: COUNT,
      last: COUNT - 1,
      gaps: 0,
    }))
    withEvidence(() => expect(table).toEqual(expected))

    const broker = await openBroker()
    let source: BrokerRecord[]
    let changelog: BrokerRecord[]
    try {
      source = await readTopic(broker, `${id}-seq`, { readCommitted: true })
      changelog = await readTopic(broker, `${id}-sums-changelog`, { readCommitted: true })
    } finally {
      await broker.close()
    }
    // Rebuild from the source: each partition holds 0..9,999 once, in order.
    const rebuilt: Sums[] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const values = source
        .filter((r) => r.partition === p)
        .map((r) => (JSON.parse(text(r.value)!) as { i: number }).i)
      let s: Sums = { sum: 0, count: 0, last: -1, gaps: 0 }
      for (const i of values)
        s = { sum: s.sum + i, count: s.count + 1, last: i, gaps: s.gaps + (i === s.last + 1 ? 0 : 1) }
      rebuilt.push(s)
    }
    expect(rebuilt).toEqual(expected)
    expect(table).toEqual(rebuilt)

    // The changelog replays to the same table, and every committed record is a consistent prefix sum
    // whose count never goes back (no duplicate, lost or rewound update ever became visible).
    const replayed = replayChangelog(changelog)
    withEvidence(() =>
      expect(Object.fromEntries(replayed)).toEqual(
        Object.fromEntries(table.map((s, p) => [partitionKey(p, PARTITIONS), s] as const)),
      ),
    )
    const lastCount = new Map<string, number>()
    const bad: string[] = []
    for (const r of changelog) {
      const k = text(r.key)!
      const v = JSON.parse(text(r.value)!) as Sums
      const consistent = v.gaps === 0 && v.last === v.count - 1 && v.sum === (v.count * (v.count - 1)) / 2
      if (!consistent || v.count < (lastCount.get(k) ?? 0))
        bad.push(`${k}@${r.partition}/${r.offset}: ${text(r.value)} after count ${lastCount.get(k) ?? 0}`)
      lastCount.set(k, v.count)
    }
    withEvidence(() => expect(bad.slice(0, 10)).toEqual([]))
  }, 330_000)
})
