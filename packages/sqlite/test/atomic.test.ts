/**
 * Exactly-once on sqlite://: what atomic.run committed is all in the file after
 * reopening it (that a throw leaves nothing is in the conformance suite).
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteBroker, type SqliteBroker } from '../src/index.ts'
import { bytes, rowsOf, tempDir, text } from './helpers.ts'

const open: SqliteBroker[] = []
afterEach(async () => {
  for (const b of open.splice(0)) await b.close()
})
const broker = (path: string) => {
  const b = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
  open.push(b)
  return b
}

describe('sqlite atomic commit', () => {
  it('commits records, rows and offsets in one transaction and wakes fetchers', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = broker(path)
    await b.ensureTopics([
      { name: 'in', partitions: 1 },
      { name: 'out', partitions: 1 },
    ])
    const store = b.atomic.store()
    expect(store.durable).toBe(true)
    const reader = b.reader([{ topic: 'out', partition: 0, offset: 0 }])
    const waiting = reader.fetch({ maxRecords: 10, maxWaitMs: 30_000 })
    const meta = b.atomic.run((tx) => {
      const m = tx.append([{ topic: 'out', partition: 0, key: bytes('k'), value: bytes('v'), timestamp: 7 }])
      store.transaction(() =>
        store.table('counts').apply([{ partition: 0, key: '"k"', value: '1' }], new Map([[0, 1]])),
      )
      tx.commitOffsets('app', [{ topic: 'in', partition: 0, offset: 5 }])
      return m
    })
    expect(meta).toEqual([{ topic: 'out', partition: 0, offset: 0, timestamp: 7 }])
    const got = await waiting
    expect(got[0]!.records.map((r) => text(r.value))).toEqual(['v'])
    store.close()
    await b.close()

    // all of it is in the file
    const again = broker(path)
    const s2 = again.atomic.store()
    expect(rowsOf(s2.table('counts'), [0])).toEqual([{ partition: 0, key: '"k"', value: '1' }])
    const c = again.groupConsumer({
      groupId: 'app',
      topics: ['in'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    expect(await c.committed([{ topic: 'in', partition: 0 }])).toEqual([
      { topic: 'in', partition: 0, offset: 5 },
    ])
    // the broker's store tables do not clash with the log's tables
    expect((await again.endOffsets([{ topic: 'out', partition: 0 }]))[0]!.offset).toBe(1)
  })
})
