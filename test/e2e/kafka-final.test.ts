/**
 * Final window results on Kafka under exactly_once (the Faust bugs
 * robinhood/faust#514 and faust-streaming#193 as tests): a worker that closes
 * a minute and is SIGKILLed before its transaction commits leaves nothing in
 * the totals topic (read_committed); the next worker replays the events and
 * emits the minute once. A window half counted when a second worker joins the
 * group moves with its partition (recovered from the changelog) and is emitted
 * once, with every count of both workers in it.
 */

import { partitionForKey } from '@stream-app/core/runtime'
import { afterAll, describe, expect, it } from 'vitest'
import { partitionKey } from './fixtures/kafka-tabletest.ts'
import { KAFKA_POLL, openBroker, readTopic, runWorker, tempDir, text, uniq, until } from './kafka-helpers.ts'
import { killAll, recentMinute } from './proc.ts'
import { fixture } from './sqlite-helpers.ts'

const APP = fixture('kafka-final.ts')
const T0 = recentMinute()
const PARTITIONS = 2

const dir = tempDir('kafka-final')
afterAll(async () => {
  await killAll()
  dir.remove()
})

describe('final window results on kafka:// under exactly_once', { timeout: 240_000 }, () => {
  it('a SIGKILL after the window closed: nothing committed, the next worker emits it once', async () => {
    const id = uniq('final-crash')
    const env = { E2E_ID: id, E2E_PARTITIONS: String(PARTITIONS) }
    const broker = await openBroker()
    const producer = broker.producer()
    const key = 'ann'
    const click = (sec: number) =>
      producer.send([
        {
          topic: `${id}-clicks`,
          partition: partitionForKey(Buffer.from(key), PARTITIONS),
          key: Buffer.from(key),
          value: Buffer.from('1'),
          timestamp: T0 + sec * 1000,
        },
      ])
    const totals = async () =>
      (await readTopic(broker, `${id}-totals`, { readCommitted: true })).map((r) => [
        text(r.key),
        JSON.parse(text(r.value)!),
      ])
    try {
      const a = runWorker(APP, `${id}-a`, dir.path, env)
      await a.url()
      await a.waitFor(/partitions assigned/, 60_000)
      for (const sec of [0, 30, 71]) await click(sec)
      await a.waitFor(new RegExp(`counted ${key} ${T0 + 71_000}`), 60_000)
      await a.kill() // the minute closed and its total went out in a transaction that never commits
      // read_committed waits until the broker aborts the open transaction (its timeout: 10 s)
      expect(await totals()).toEqual([])

      const b = runWorker(APP, `${id}-b`, dir.path, env)
      await b.waitFor(new RegExp(`counted ${key} ${T0 + 71_000}`), 90_000)
      expect(await b.stop()).toBe(0) // commits
      expect(await totals()).toEqual([[key, { start: T0, end: T0 + 60_000, value: 2 }]])
    } finally {
      await producer.close()
      await broker.close()
    }
  })

  it('a window half counted when a worker joins moves with its partition and is emitted once', async () => {
    const id = uniq('final-move')
    const env = { E2E_ID: id, E2E_PARTITIONS: String(PARTITIONS), E2E_COMMIT_INTERVAL: '200ms' }
    const broker = await openBroker()
    const producer = broker.producer()
    // one key in each partition: whichever partition moves to the new worker, a window moves
    const keys = Array.from({ length: PARTITIONS }, (_, p) => partitionKey(p, PARTITIONS))
    const clicks = (sec: number) =>
      producer.send(
        keys.map((key, p) => ({
          topic: `${id}-clicks`,
          partition: p,
          key: Buffer.from(key),
          value: Buffer.from('1'),
          timestamp: T0 + sec * 1000,
        })),
      )
    try {
      const a = runWorker(APP, `${id}-a`, dir.path, env)
      await a.url()
      await a.waitFor(/partitions assigned/, 60_000)
      await clicks(0)
      await clicks(30)
      for (const key of keys) await a.waitFor(new RegExp(`counted ${key} ${T0 + 30_000}`), 60_000)
      await new Promise((r) => setTimeout(r, 1000)) // a commit or more
      const b = runWorker(APP, `${id}-b`, dir.path, env)
      await b.waitFor(/partitions assigned/, 60_000)
      await clicks(71)
      const want = keys.map((key) => [key, { start: T0, end: T0 + 60_000, value: 2 }]).sort()
      const logs = () => a.log().slice(-6000) + b.log().slice(-6000)
      await until(
        'both minutes emitted',
        async () => ((await totals()).length >= keys.length ? true : undefined),
        { ...KAFKA_POLL, context: logs },
      )
      // Each worker emitted the minute of its own partition, one of them recovered mid-window.
      expect(b.log()).toMatch(new RegExp(`counted \\S+ ${T0 + 71_000}`))
      await new Promise((r) => setTimeout(r, 2000)) // a duplicate would be committed by now
      expect((await totals()).sort()).toEqual(want)
    } finally {
      await producer.close()
      await broker.close()
    }

    async function totals() {
      return (await readTopic(broker, `${id}-totals`, { readCommitted: true })).map((r) => [
        text(r.key),
        JSON.parse(text(r.value)!),
      ])
    }
  })
})
