/**
 * Standby replicas across real worker processes sharing one store file (two
 * `stream-app run` in one directory): a worker that gave a partition up keeps
 * its rows as a standby and, when the new owner is killed, takes them over
 * with every change the new owner made — not only those after the offset the
 * shared store showed when the standby started following.
 */
import { describe, expect, it } from 'vitest'
import { partitionForKey } from '../../packages/core/src/index.ts'
import { openSqliteBroker } from '../../packages/sqlite/src/index.ts'
import { startWorker } from './proc.ts'
import { brokerFile, fixture, getJson, logsOf, tempDir, until } from './sqlite-helpers.ts'

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
})
