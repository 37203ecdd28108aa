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
import { brokerFile, fixture, logsOf, readTopic, tempDir, until } from './sqlite-helpers.ts'
import { answers, BASE, customersIn, distinctPairs, expected, pairs } from './stateful-expected.ts'

const APP = fixture('sqlite-stateful.ts')
const N = 20

/** The distinct pairs in 'matched' once they are `want` (a redelivery after the SIGKILL may repeat one). */
const matched = (dir: string, want: readonly string[], context: () => string) =>
  until(
    `'matched' to hold ${want.length} pairs`,
    async () => {
      const got = await readTopic(brokerFile(dir), 'matched').catch(() => [])
      const distinct = distinctPairs(got.map((r) => r.value as { id: string; paid: number }))
      return JSON.stringify(distinct) === JSON.stringify(want) ? got : undefined
    },
    { context, timeoutMs: 60_000 },
  )

const answersOf = async (w: WorkerProcess) => answers(await w.url(), N)

describe('stateful features across worker processes on sqlite://', { timeout: 120_000 }, () => {
  it('joins, set tables and sessions answer every key from either worker, and after a SIGKILL', async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    await a.url()
    const b = startWorker(['run', APP], {}, dir)
    await b.url()
    await b.waitFor(/partitions assigned/)
    const c = cli(['customers', APP, '--n', String(N)], { cwd: dir })
    expect(c.err).toBe('')
    const aUrl = await a.url()
    await until('the customer table to hold every customer', () => customersIn(aUrl, N), {
      context: logsOf(a, b),
      timeoutMs: 60_000,
    })
    const p = cli(['produce', APP, '--n', String(N), '--base', String(BASE)], { cwd: dir })
    expect(p.err).toBe('')
    const want = Array.from({ length: N }, (_, i) => expected(i))
    for (const w of [a, b])
      await until(
        `worker ${w.pid} to answer every key`,
        async () => {
          const got = await answersOf(w).catch(() => undefined)
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
        const got = await answersOf(a).catch(() => undefined)
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
