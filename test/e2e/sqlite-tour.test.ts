/**
 * The README's tour app with three workers on sqlite://: its tables are
 * partitioned like `orders` (4 partitions, not the 8 of the `double` agent's
 * own topic), every row lives in its key's partition, and every worker answers
 * every customer's revenue correctly — through GET /tables/revenue/:key and the
 * tour's own route — for keys spread over every partition and every worker.
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker } from './proc.ts'
import { fixture, getJson, logsOf, tempDir, until } from './sqlite-helpers.ts'

const TOUR = fixture('tour.ts')
const CUSTOMERS = 40
const ORDERS = 200

describe('the README tour with three workers on sqlite://', { timeout: 120_000 }, () => {
  it('answers every key correctly on every worker', async () => {
    const dir = tempDir()
    const workers = [startWorker(['run', TOUR, '--web-port', '0'], {}, dir)]
    const first = await workers[0]!.url()
    workers.push(startWorker(['run', TOUR, '--web-port', '0'], {}, dir))
    workers.push(startWorker(['run', TOUR, '--web-port', '0'], {}, dir))
    const urls = [first, await workers[1]!.url(), await workers[2]!.url()]
    const context = logsOf(...workers)
    // The three share the four partitions of `orders` before anything is sent.
    await until(
      'every worker to hold a partition of orders',
      () => workers.every((w) => /partitions assigned partitions="[^"]*orders\[/.test(w.log())),
      { context },
    )

    const seed = cli(['seed', TOUR, '--customers', String(CUSTOMERS), '--n', String(ORDERS)], { cwd: dir })
    expect(seed.err).toBe('')
    expect(seed.code).toBe(0)

    const expected = new Map<string, number>()
    for (let i = 0; i < ORDERS; i++) {
      const c = `c${i % CUSTOMERS}`
      expected.set(c, (expected.get(c) ?? 0) + i + 1)
    }
    for (const url of urls) {
      for (const [customer, revenue] of expected) {
        await until(
          `${url} to answer ${customer}'s revenue ${revenue}`,
          async () => {
            const t = await getJson<{ value: number }>(`${url}/tables/revenue/${customer}`)
            const r = await getJson<{ revenue: number }>(`${url}/revenue/${customer}`)
            return (
              t.status === 200 && t.body.value === revenue && r.status === 200 && r.body.revenue === revenue
            )
          },
          { context, timeoutMs: 30_000 },
        )
      }
    }
    // The rows really are spread: each worker holds some customers and is asked for all of them.
    const holders = workers.map((w) => /table 'revenue' has 4 partitions/.test(w.log()))
    expect(holders.filter(Boolean).length).toBeGreaterThanOrEqual(2)
    for (const w of workers) expect(w.log()).not.toMatch(/NotOwnedError|not co-partitioned|stopped:/)
    await Promise.all(workers.map((w) => w.stop()))
  })
})
