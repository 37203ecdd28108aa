/**
 * The stateful features across real worker processes on sqlite://: two
 * workers split the partitions; a stream–table join enriches every order, a
 * table–table join, a set table and session windows answer every key from
 * either worker (table-routed HTTP), and after one worker is SIGKILLed the
 * survivor answers every key the same from what it recovered. A stream–stream
 * join pairs orders with payments; payments sent after the SIGKILL pair with
 * orders the dead worker had buffered (recovered from its changelog).
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker, type WorkerProcess } from './proc.ts'
import { brokerFile, fixture, getJson, logsOf, readTopic, tempDir, until } from './sqlite-helpers.ts'

const APP = fixture('sqlite-stateful.ts')
const N = 20
const BASE = Date.UTC(2026, 0, 1)

const expected = (i: number) => ({
  report: `U${i} spent ${i + 1}`,
  followers: Array.from({ length: (i % 3) + 1 }, (_, f) => `f${f}`),
  sessions: [
    { start: BASE, end: BASE + 80_000, value: 2 },
    { start: BASE + 600_000, end: BASE + 710_000, value: 3 },
  ],
})

/** Each order of user i paired with payment i, for the users given. */
const pairs = (users: readonly number[]) => users.flatMap((i) => [`u${i}-a ${i}`, `u${i}-b ${i}`]).sort()

/** The distinct pairs in 'matched' once they are `want` (a redelivery after the SIGKILL may repeat one). */
const matched = (dir: string, want: readonly string[], context: () => string) =>
  until(
    `'matched' to hold ${want.length} pairs`,
    async () => {
      const got = await readTopic(brokerFile(dir), 'matched').catch(() => [])
      const values = got.map((r) => r.value as { id: string; paid: number })
      const distinct = [...new Set(values.map((v) => `${v.id} ${v.paid}`))].sort()
      return JSON.stringify(distinct) === JSON.stringify(want) ? got : undefined
    },
    { context, timeoutMs: 60_000 },
  )

async function answers(w: WorkerProcess) {
  const url = await w.url()
  const out = []
  for (let i = 0; i < N; i++) {
    const u = `u${i}`
    const [r, f, s] = await Promise.all([
      getJson<{ report: string | null }>(`${url}/report/${u}`),
      getJson<{ followers: string[] }>(`${url}/followers/${u}`),
      getJson<{ sessions: unknown[] }>(`${url}/sessions/${u}`),
    ])
    out.push({ report: r.body.report, followers: f.body.followers, sessions: s.body.sessions })
  }
  return out
}

describe('stateful features across worker processes on sqlite://', { timeout: 120_000 }, () => {
  it('joins, set tables and sessions answer every key from either worker, and after a SIGKILL', async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    await a.url()
    const b = startWorker(['run', APP], {}, dir)
    await b.url()
    await b.waitFor(/partitions assigned/)
    const p = cli(['produce', APP, '--n', String(N), '--base', String(BASE)], { cwd: dir })
    expect(p.err).toBe('')
    const want = Array.from({ length: N }, (_, i) => expected(i))
    for (const w of [a, b])
      await until(
        `worker ${w.pid} to answer every key`,
        async () => {
          const got = await answers(w).catch(() => undefined)
          return got && JSON.stringify(got) === JSON.stringify(want) ? got : undefined
        },
        { context: logsOf(a, b), timeoutMs: 60_000 },
      )
    const enriched = await readTopic(brokerFile(dir), 'enriched')
    expect(enriched).toHaveLength(2 * N)
    expect(new Set(enriched.map((r) => (r.value as { name: string }).name)).size).toBe(N)
    const even = Array.from({ length: N / 2 }, (_, i) => 2 * i)
    const first = await matched(dir, pairs(even), logsOf(a, b))
    // Both workers running and nothing killed: each pair exactly once.
    expect(first).toHaveLength(2 * even.length)

    await b.kill()
    await until(
      'the survivor to answer every key alone',
      async () => {
        const got = await answers(a).catch(() => undefined)
        return got && JSON.stringify(got) === JSON.stringify(want) ? got : undefined
      },
      { context: logsOf(a), timeoutMs: 60_000 },
    )
    // Payments of the odd users now: half of their orders were buffered by the dead worker.
    const pay = cli(['pay', APP, '--n', String(N)], { cwd: dir })
    expect(pay.err).toBe('')
    await matched(dir, pairs(Array.from({ length: N }, (_, i) => i)), logsOf(a))
  })
})
