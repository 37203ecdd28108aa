/**
 * Exactly-once on real Kafka through crashes: while a producer writes at a
 * steady rate, a worker with guarantee 'exactly_once' is SIGKILLed three times
 * mid-stream and restarted each time on the same datadir. Afterwards the sink
 * topic, read with read_committed, holds every input event exactly once (its
 * ids are a permutation of the inputs), the table's per-key counts are exact,
 * and the changelog (read_committed) replays to the same counts.
 */

import type { BrokerRecord } from '@stream-app/core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  COUNTER_APP,
  cliAsync,
  getJson,
  KAFKA_POLL,
  openBroker,
  readTopic,
  replayChangelog,
  runWorker,
  tempDir,
  text,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll } from './proc.ts'

const PARTITIONS = 4
const KEYS = 40
const TOTAL = 9000
const RATE = 250
const KILLS = 3

const dir = tempDir('kafka-eos')
afterAll(async () => {
  await killAll()
  dir.remove()
})

describe('kafka://: exactly-once through kill -9', () => {
  it('leaves the sink (read_committed) and the table exact after a SIGKILL and a restart', async () => {
    const id = uniq('eos')
    const env = {
      E2E_ID: id,
      E2E_PARTITIONS: String(PARTITIONS),
      E2E_GUARANTEE: 'exactly_once',
      // Frequent commits: a kill more often lands inside an open transaction.
      E2E_COMMIT_INTERVAL: '100ms',
    }
    // One producer at a steady rate for the whole run, so every kill lands mid-stream.
    let producerDone = false
    const producing = cliAsync(
      ['produce', COUNTER_APP, '--count', String(TOTAL), '--keys', String(KEYS), '--rate', String(RATE)],
      { env, cwd: dir.path },
    ).finally(() => {
      producerDone = true
    })
    let worker = runWorker(COUNTER_APP, 'w', dir.path, env)
    const logs = [worker]
    for (let kill = 0; kill < KILLS; kill++) {
      const url = await worker.url()
      const before = (await getJson<{ value: number }>(`${url}/tables/counts/k0`)).body.value
      await until(
        'the worker to make progress',
        async () => {
          const r = await getJson<{ value: number }>(`${url}/tables/counts/k0`)
          return r.body.value > before || producerDone ? true : undefined
        },
        KAFKA_POLL,
      )
      // A random point of its commit cycle: processing, sending, or inside a transaction.
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000))
      await worker.kill()
      worker = runWorker(COUNTER_APP, 'w', dir.path, env)
      logs.push(worker)
    }
    const url2 = await worker.url()
    const produced = await producing
    expect(produced.code, produced.err).toBe(0)
    const expected = TOTAL / KEYS
    await until(
      'every key counted on the restarted worker',
      async () => {
        for (let k = 0; k < KEYS; k++) {
          const r = await getJson<{ value: number }>(`${url2}/tables/counts/k${k}`)
          if (r.body.value < expected) return undefined
        }
        return true
      },
      { timeoutMs: 150_000, everyMs: 500 },
    )
    // Settle: a duplicate would show up as a count above expected.
    await new Promise((r) => setTimeout(r, 1500))
    const counts: number[] = []
    for (let k = 0; k < KEYS; k++)
      counts.push((await getJson<{ value: number }>(`${url2}/tables/counts/k${k}`)).body.value)
    expect(await worker.stop()).toBe(0)

    const broker = await openBroker()
    let source: string[]
    let sunk: string[]
    let changelog: Map<string, unknown>
    try {
      const ids = (rs: readonly BrokerRecord[]) =>
        rs.map((r) => (JSON.parse(text(r.value)!) as { id: string }).id)
      source = ids(await readTopic(broker, `${id}-events`, { readCommitted: true }))
      // read_committed: what a killed worker's open transaction wrote is never visible.
      sunk = ids(await readTopic(broker, `${id}-out`, { readCommitted: true }))
      changelog = replayChangelog(await readTopic(broker, `${id}-counts-changelog`, { readCommitted: true }))
    } finally {
      await broker.close()
    }
    const inputs = Array.from({ length: TOTAL }, (_, n) => `e${n}`).sort()
    const dupes = (xs: readonly string[]) => {
      const seen = new Map<string, number>()
      for (const x of xs) seen.set(x, (seen.get(x) ?? 0) + 1)
      return [...seen].filter(([, n]) => n > 1)
    }
    const evidence = `source ${source.length} (${dupes(source).length} duplicated), sink ${sunk.length} (${dupes(sunk).length} duplicated); logs:\n${logs.map((l) => l.log()).join('\n---\n')}`
    expect(source.slice().sort(), 'the producer wrote each input once').toEqual(inputs)
    expect(counts, evidence).toEqual(Array(KEYS).fill(expected))
    expect(dupes(sunk).slice(0, 10), evidence).toEqual([])
    expect(sunk.slice().sort(), evidence).toEqual(inputs)
    // The changelog replays to the same table.
    expect(changelog.size).toBe(KEYS)
    for (const [k, v] of changelog) expect(v, k).toBe(expected)
  }, 300_000)
})
