/**
 * The stateful features across real worker processes on Kafka (the twin of
 * sqlite-stateful.test.ts): two workers split the partitions of a consumer
 * group; a stream–table join enriches every order, and a table–table join, a
 * set table, session windows and a global table answer every key from either
 * worker (table-routed HTTP forwards to the owner; the global table answers
 * from each worker's own copy). A stream–stream join pairs orders with
 * payments. After one worker is SIGKILLed the survivor, once the group has
 * moved its partitions over, answers every key the same from what it
 * recovered, and payments sent then pair with orders the dead worker had
 * buffered.
 */
import { afterAll, describe, expect, it } from 'vitest'
import {
  cliAsync,
  KAFKA_POLL,
  openBroker,
  readTopic,
  runWorker,
  tempDir,
  text,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll, type WorkerProcess } from './proc.ts'
import { fixture } from './sqlite-helpers.ts'
import { answers, BASE, customersIn, distinctPairs, expected, pairs } from './stateful-expected.ts'

const APP = fixture('kafka-stateful.ts')
const N = 12

const dir = tempDir('kafka-stateful')
afterAll(async () => {
  await killAll()
  dir.remove()
})

const answersOf = async (w: WorkerProcess) => answers(await w.url(), N, true)

describe('stateful features across worker processes on kafka://', { timeout: 240_000 }, () => {
  it('joins, set, session and global tables answer every key from either worker, and after a SIGKILL', async () => {
    const id = uniq('stateful')
    const env = { E2E_ID: id }
    const a = runWorker(APP, `${id}-a`, dir.path, env)
    await a.url()
    const b = runWorker(APP, `${id}-b`, dir.path, env)
    await b.url()
    await b.waitFor(/partitions assigned/, 60_000)
    const logs = () => a.log().slice(-6000) + b.log().slice(-6000)
    const customers = await cliAsync(['customers', APP, '--n', String(N)], { env, cwd: dir.path })
    expect(customers.err).toBe('')
    expect(customers.code).toBe(0)
    const aUrl = await a.url()
    await until('the customer table to hold every customer', () => customersIn(aUrl, N), {
      ...KAFKA_POLL,
      context: logs,
    })
    const produce = await cliAsync(['produce', APP, '--n', String(N), '--base', String(BASE)], {
      env,
      cwd: dir.path,
    })
    expect(produce.err).toBe('')
    expect(produce.code).toBe(0)
    const want = Array.from({ length: N }, (_, i) => expected(i, true))
    const answersAll = (w: WorkerProcess) => async () => {
      const got = await answersOf(w).catch(() => undefined)
      return got && JSON.stringify(got) === JSON.stringify(want) ? got : undefined
    }
    for (const w of [a, b])
      await until(`worker ${w.pid} to answer every key`, answersAll(w), { ...KAFKA_POLL, context: logs })

    const broker = await openBroker()
    /** The distinct pairs in the matched topic once they are `want` (a redelivery after the SIGKILL may repeat one). */
    const matched = (want: readonly string[], context: () => string) =>
      until(
        `'matched' to hold ${want.length} pairs`,
        async () => {
          const got = await readTopic(broker, `${id}-matched`)
          const distinct = distinctPairs(
            got.map((r) => JSON.parse(text(r.value)!) as { id: string; paid: number }),
          )
          return JSON.stringify(distinct) === JSON.stringify(want) ? got : undefined
        },
        { ...KAFKA_POLL, context },
      )
    try {
      const enriched = await readTopic(broker, `${id}-enriched`)
      expect(enriched).toHaveLength(2 * N)
      const names = enriched.map((r) => (JSON.parse(text(r.value)!) as { name: string }).name)
      expect(new Set(names).size).toBe(N)
      const even = Array.from({ length: N / 2 }, (_, i) => 2 * i)
      // Both workers running and nothing killed: each pair exactly once.
      expect(await matched(pairs(even), logs)).toHaveLength(2 * even.length)

      await b.kill()
      await until('the survivor to answer every key alone', answersAll(a), {
        ...KAFKA_POLL,
        timeoutMs: 120_000,
        context: () => a.log().slice(-8000),
      })
      // Payments of the odd users now: some of their orders were buffered by the dead worker.
      const pay = await cliAsync(['pay', APP, '--n', String(N)], { env, cwd: dir.path })
      expect(pay.code).toBe(0)
      await matched(pairs(Array.from({ length: N }, (_, i) => i)), () => a.log().slice(-8000))
    } finally {
      await broker.close()
    }
  })
})
