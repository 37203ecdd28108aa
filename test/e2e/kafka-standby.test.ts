/**
 * Standby replicas on Kafka: two workers (each its own datadir, like two
 * machines) with `standbyReplicas: 1` keep copies of each other's table
 * partitions by tailing the changelogs. When one is SIGKILLed, the survivor
 * takes its partitions over from the standby copy: it replays nothing of the
 * changelog, and every partition still sums correctly as production goes on.
 * The same run without a standby replays the changelog, the control that
 * shows the assertion can fail.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { partitionKey } from './fixtures/kafka-tabletest.ts'
import {
  cliAsync,
  getJson,
  KAFKA_POLL,
  runWorker,
  TABLETEST_APP,
  tempDir,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll } from './proc.ts'

const PARTITIONS = 4
const COUNT = 600

const dir = tempDir('kafka-standby')
afterAll(async () => {
  await killAll()
  dir.remove()
})

interface Sums {
  sum: number
  count: number
  gaps: number
}

async function run(standby: number): Promise<{ replayedAfterKill: string[] }> {
  const id = uniq(`standby${standby}`)
  const env = {
    E2E_ID: id,
    E2E_PARTITIONS: String(PARTITIONS),
    E2E_GUARANTEE: 'at_least_once',
    E2E_STANDBY: String(standby),
  }
  const a = runWorker(TABLETEST_APP, `${id}-a`, dir.path, env)
  const ua = await a.url()
  const b = runWorker(TABLETEST_APP, `${id}-b`, dir.path, env)
  await b.url()
  await b.waitFor(/partitions assigned/, 60_000)
  const produce = (count: number) =>
    cliAsync(['produce-seq', TABLETEST_APP, '--count', String(count), '--rate', '300'], {
      env,
      cwd: dir.path,
    })
  const sums = async (base: string) =>
    Promise.all(
      Array.from({ length: PARTITIONS }, async (_, p) => {
        const r = await getJson<{ value: Sums }>(`${base}/tables/sums/${partitionKey(p, PARTITIONS)}`)
        return r.status === 200 ? r.body.value : undefined
      }),
    )
  const allAt = (n: number) => async () => {
    const s = await sums(ua).catch(() => [])
    return s.length === PARTITIONS && s.every((x) => x?.count === n && x.gaps === 0) ? s : undefined
  }
  expect((await produce(COUNT)).code).toBe(0)
  await until(`every partition at ${COUNT}`, allAt(COUNT), {
    ...KAFKA_POLL,
    context: () => a.log() + b.log(),
  })
  // Let the standby catch up with the last commits.
  await new Promise((r) => setTimeout(r, 3000))
  const before = a.log().length
  await b.kill()
  await until(
    'the survivor to be assigned every partition',
    async () =>
      /partitions assigned[^\n]*held="?[^"\n]*seq\[0,1,2,3\]/.test(a.log().slice(before)) ? true : undefined,
    { ...KAFKA_POLL, timeoutMs: 90_000, context: () => a.log() },
  )
  const replayedAfterKill = a
    .log()
    .slice(before)
    .split('\n')
    .filter((l) => l.includes("recovering table 'sums'"))
  // Everything the killed worker held is there, and processing goes on.
  const s = await until(`the survivor to hold all ${COUNT}`, allAt(COUNT), {
    ...KAFKA_POLL,
    context: () => a.log(),
  })
  expect(s.map((x) => x!.sum)).toEqual(Array(PARTITIONS).fill((COUNT * (COUNT - 1)) / 2))
  await a.stop()
  return { replayedAfterKill }
}

describe('kafka://: standby replicas', { timeout: 300_000 }, () => {
  it('a survivor with a standby takes over without replaying the changelog; without one it replays', async () => {
    const withStandby = await run(1)
    expect(withStandby.replayedAfterKill).toEqual([])
    const without = await run(0)
    expect(without.replayedAfterKill.length).toBeGreaterThan(0)
  })
})
