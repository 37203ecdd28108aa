/**
 * Standby replicas across real worker processes sharing one store file (two
 * `stream-app run` in one directory): a worker that gave a partition up keeps
 * its rows as a standby and, when the new owner is killed, takes them over
 * with every change the new owner made — not only those after the offset the
 * shared store showed when the standby started following. A worker that
 * starts standing by for a partition of a shared store reads the owner's rows
 * there instead of deleting them, and the store stays a snapshot of the
 * partition as of its offset throughout.
 */

import { partitionForKey } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { openSqliteBroker, openSqliteStore } from '../../packages/sqlite/src/index.ts'
import { startWorker } from './proc.ts'
import { brokerFile, fixture, getJson, logsOf, storeFile, tempDir, until } from './sqlite-helpers.ts'

const APP = fixture('sqlite-standby.ts')

describe('standby replicas on one machine', { timeout: 90_000 }, () => {
  it("a standby taken over after the owner's SIGKILL has the owner's changes", async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    const ua = await a.url()
    const broker = openSqliteBroker({ path: brokerFile(dir), maintenanceIntervalMs: 0 })
    const producer = broker.producer()
    let key = ''
    for (let i = 0; !key; i++) if (partitionForKey(Buffer.from(`k${i}`), 2) === 1) key = `k${i}`
    const send = (v: number) =>
      producer.send([
        { topic: 'writes', partition: 1, key: Buffer.from(key), value: Buffer.from(String(v)), timestamp: 0 },
      ])
    const valueOn = async (url: string) =>
      (await getJson<{ value: number }>(`${url}/tables/values/${key}`)).body
    try {
      const ctx = { context: logsOf(a) }
      await send(1)
      await until('a to hold 1', async () => (await valueOn(ua)).value === 1, ctx)

      // b joins and takes partition 1; a keeps its rows as a standby. b writes 2 and commits it
      // (to the shared store too) before a starts following the partition's changelog.
      const b = startWorker(['run', APP], {}, dir)
      await b.waitFor(/partitions assigned partitions="?writes\[1\]/)
      await send(2)
      await until('the value 2 through either worker', async () => (await valueOn(ua)).value === 2, {
        context: logsOf(a, b),
      })
      await new Promise((r) => setTimeout(r, 2_000))

      await b.kill()
      await a.waitFor(new RegExp(`pid ${b.pid}\\) is gone`))
      await a.waitFor(/partitions assigned partitions="?writes\[1\]/)
      expect(await valueOn(ua)).toEqual({ key, value: 2 })
    } finally {
      await producer.close()
      await broker.close()
    }
  })

  it("a standby of a shared store starts from the owner's stored rows and never sets the store back", async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    const ua = await a.url()
    const broker = openSqliteBroker({ path: brokerFile(dir), maintenanceIntervalMs: 0 })
    const producer = broker.producer()
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
    const p0 = keys.filter((k) => partitionForKey(Buffer.from(k), 2) === 0)
    const last = new Map<string, number>()
    const sendRound = async (round: number, which: readonly string[]) => {
      for (const k of which) last.set(k, round * 1000 + Number(k.slice(1)))
      await producer.send(
        which.map((k) => ({
          topic: 'writes',
          partition: partitionForKey(Buffer.from(k), 2),
          key: Buffer.from(k),
          value: Buffer.from(String(last.get(k))),
          timestamp: 0,
        })),
      )
    }
    const store = openSqliteStore({ path: storeFile(dir, 'e2e-standby') })
    const values = store.table('e2e-standby-values-changelog')
    const storedOffset = () => values.persistedOffsets([0]).get(0)
    const storedRows = () => new Map([...values.scan(0, 1000)].flat().map((r) => [r.key, Number(r.value)]))
    const expected = () => new Map(p0.map((k) => [k, last.get(k)!]))
    const sameRows = (x: Map<string, number>, y: Map<string, number>) =>
      x.size === y.size && [...x].every(([k, v]) => y.get(k) === v)
    let watching = true
    try {
      for (let round = 1; round <= 5; round++) await sendRound(round, keys)
      await until(
        "a's store to hold partition 0's last values",
        async () => sameRows(storedRows(), expected()),
        { context: logsOf(a) },
      )
      const committed = storedOffset()!
      expect(committed).toBeGreaterThan(0)

      // The store's offset of partition 0 as b starts, takes partition 1 and stands by for 0.
      const seen: (number | undefined)[] = []
      const watch = (async () => {
        while (watching) {
          seen.push(storedOffset())
          await new Promise((r) => setTimeout(r, 2))
        }
      })()
      const b = startWorker(['run', APP], {}, dir)
      const started = await b.waitFor(
        /standby of table 'values' partition 0 starts at changelog offset (\d+) from="?(\d+) rows from the store/,
      )
      expect(Number(started[1])).toBe(committed)
      expect(Number(started[2])).toBe(p0.length)

      // a goes on writing partition 0; b tails it as a standby, then takes it over when a is killed.
      await sendRound(6, p0)
      await until('a to hold round 6', async () => {
        const v = await getJson<{ value: number }>(`${ua}/tables/values/${p0[0]}`)
        return v.body.value === last.get(p0[0]!)
      })
      await new Promise((r) => setTimeout(r, 1_000))
      watching = false
      await watch
      expect(seen.length).toBeGreaterThan(10)
      for (let i = 0; i < seen.length; i++) {
        expect(seen[i], `stored offset of partition 0, sample ${i}`).toBeGreaterThanOrEqual(committed)
        if (i > 0) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!)
      }

      await a.kill()
      await b.waitFor(new RegExp(`pid ${a.pid}\\) is gone`))
      await b.waitFor(/partitions assigned partitions=.*writes\[0/)
      const ub = await b.url()
      for (const k of p0)
        expect((await getJson<{ value: number }>(`${ub}/tables/values/${k}`)).body).toEqual({
          key: k,
          value: last.get(k),
        })
      expect(sameRows(storedRows(), expected()), JSON.stringify([...storedRows()])).toBe(true)
      await b.stop()
    } finally {
      watching = false
      store.close()
      await producer.close()
      await broker.close()
    }
  })
})
