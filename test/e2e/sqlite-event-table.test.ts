/**
 * Records other producers put in partitions of their choosing (issue 23), on
 * two `stream-app run` processes sharing the sqlite:// broker: Faust's table
 * test shape (partition p carries 1..count under one key of p, sent with explicit
 * partitions). With partitioning 'event' each worker sums the partitions it
 * reads and no agent stops, though murmur2 puts keys elsewhere.
 */
import { describe, expect, it } from 'vitest'
import { keyOf } from './fixtures/sqlite-event-table.ts'
import { cli, getJson, startWorker } from './proc.ts'
import { fixture, logsOf, tempDir, until } from './sqlite-helpers.ts'

const APP = fixture('sqlite-event-table.ts')
const COUNT = 100
const N = 4

describe('a table partitioned by event, on two workers', { timeout: 90_000 }, () => {
  it('keeps each partition sum on the worker reading that partition', async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    const ua = await a.url()
    const b = startWorker(['run', APP], {}, dir)
    const ub = await b.url()
    const ctx = { context: logsOf(a, b), timeoutMs: 45_000 }
    type Health = { status: string; partitions: Record<string, number[]> }
    const held = async (url: string) => (await getJson<Health>(`${url}/health`)).body.partitions.seq ?? []
    await until(
      'the partitions to be split',
      async () => (await held(ua)).length === 2 && (await held(ub)).length === 2,
      ctx,
    )
    const r = cli(['produce-seq', APP, '--count', String(COUNT)], { cwd: dir })
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const want = (COUNT * (COUNT + 1)) / 2
    const sums = await until(
      'every partition summed',
      async () => {
        const [sa, sb] = [
          (await getJson<Record<string, number>>(`${ua}/local-sums`)).body,
          (await getJson<Record<string, number>>(`${ub}/local-sums`)).body,
        ]
        const all = [0, 1, 2, 3].map((p) => [sa[keyOf(p)], sb[keyOf(p)]] as const)
        return all.every(([x, y]) => (x ?? 0) + (y ?? 0) === want) ? { sa, sb } : undefined
      },
      ctx,
    )
    // Each sum lives on exactly the worker that reads its partition.
    const [pa, pb] = [await held(ua), await held(ub)]
    // Split by parity, as the keys assume: key routing would have put every row on the other worker.
    expect([pa.map((p) => p % 2), pb.map((p) => p % 2)].map((x) => new Set(x).size)).toEqual([1, 1])
    for (let p = 0; p < N; p++) {
      expect(sums.sa[keyOf(p)], `partition ${p} on A`).toBe(pa.includes(p) ? want : undefined)
      expect(sums.sb[keyOf(p)], `partition ${p} on B`).toBe(pb.includes(p) ? want : undefined)
    }
    for (const url of [ua, ub]) {
      const agents = (await getJson<{ name: string; state: string }[]>(`${url}/agents`)).body
      expect(agents.map((x) => x.state)).toEqual(['running'])
    }
  })
})
