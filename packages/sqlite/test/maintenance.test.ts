/**
 * Retention and compaction of the broker log: old records go, the newest
 * value per key stays, old tombstones go, surviving offsets never change, and
 * beginningOffsets tells the truth afterwards.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteBroker, type SqliteBroker } from '../src/index.ts'
import { bytes, tempDir, text } from './helpers.ts'

const open: SqliteBroker[] = []
const broker = (path: string) => {
  const b = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
  open.push(b)
  return b
}
afterEach(async () => {
  for (const b of open.splice(0)) await b.close()
})

const readAll = async (b: SqliteBroker, topic: string, partition = 0) => {
  const r = b.reader([{ topic, partition, offset: 0 }])
  const out: { offset: number; key: string | null; value: string | null }[] = []
  for (;;) {
    const batches = await r.fetch({ maxRecords: 10_000, maxWaitMs: 0 })
    if (!batches.length) break
    for (const x of batches)
      for (const rec of x.records)
        out.push({ offset: rec.offset, key: text(rec.key), value: text(rec.value) })
  }
  await r.close()
  return out
}

describe('sqlite broker maintenance', () => {
  it('retention deletes the records older than retentionMs, keeping offsets', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([
      { name: 'short', partitions: 1, retentionMs: 60_000 },
      { name: 'forever', partitions: 1 },
    ])
    const now = 10_000_000
    const recs = [0, 1, 2, 3, 4, 5].map((i) => ({
      topic: 'short',
      partition: 0,
      key: null,
      value: bytes(`r${i}`),
      // three records older than a minute, three recent ones
      timestamp: i < 3 ? now - 120_000 + i : now - 1_000 + i,
    }))
    await b.producer().send(recs)
    await b.producer().send(recs.map((r) => ({ ...r, topic: 'forever' })))
    const result = await b.maintain({ now })
    expect(result.expired).toBe(3)
    expect(await readAll(b, 'short')).toEqual([
      { offset: 3, key: null, value: 'r3' },
      { offset: 4, key: null, value: 'r4' },
      { offset: 5, key: null, value: 'r5' },
    ])
    expect(await b.beginningOffsets([{ topic: 'short', partition: 0 }])).toEqual([
      { topic: 'short', partition: 0, offset: 3 },
    ])
    expect((await readAll(b, 'forever')).length).toBe(6)
    // everything expires: the log is empty, beginning = end, and appends continue the offsets
    await b.maintain({ now: now + 3_600_000 })
    expect(await readAll(b, 'short')).toEqual([])
    expect((await b.beginningOffsets([{ topic: 'short', partition: 0 }]))[0]!.offset).toBe(6)
    expect((await b.endOffsets([{ topic: 'short', partition: 0 }]))[0]!.offset).toBe(6)
    // a reader or member positioned inside the deleted range moves past it to the end
    const r = b.reader([{ topic: 'short', partition: 0, offset: 2 }])
    expect(await r.fetch({ maxRecords: 10, maxWaitMs: 0 })).toEqual([])
    expect(r.position({ topic: 'short', partition: 0 })).toBe(6)
    const c = b.groupConsumer({
      groupId: 'g',
      topics: ['short'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await c.start()
    c.seek({ topic: 'short', partition: 0, offset: 1 })
    expect(await c.fetch({ maxRecords: 10, maxWaitMs: 0 })).toEqual([])
    expect(c.position({ topic: 'short', partition: 0 })).toBe(6)
    await c.close()
    const [m] = await b
      .producer()
      .send([{ topic: 'short', partition: 0, key: null, value: null, timestamp: now }])
    expect(m!.offset).toBe(6)
  })

  it('compaction keeps the last record of a partition, even an old tombstone', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([
      { name: 'cl', partitions: 1, compacted: true, config: { 'delete.retention.ms': '1' } },
    ])
    const rec = (key: string, value: string | null) => ({
      topic: 'cl',
      partition: 0,
      key: bytes(key),
      value: value === null ? null : bytes(value),
      timestamp: 0,
    })
    await b.producer().send([rec('a', '1'), rec('b', '1'), rec('a', null), rec('b', null)])
    await b.maintain({ now: 1_000_000, force: true })
    // a's value and tombstone go; b's tombstone is the tail and stays (b's value goes)
    expect(await readAll(b, 'cl')).toEqual([{ offset: 3, key: 'b', value: null }])
  })

  it('compaction keeps the newest record per key and drops old tombstones', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = broker(path)
    await b.ensureTopics([
      { name: 'changelog', partitions: 1, compacted: true, config: { 'delete.retention.ms': '1000' } },
    ])
    const now = 5_000_000
    const send = (key: string | null, value: string | null, timestamp = now) =>
      b.producer().send([
        {
          topic: 'changelog',
          partition: 0,
          key: key === null ? null : bytes(key),
          value: value === null ? null : bytes(value),
          timestamp,
        },
      ])
    await send('a', '1') // 0
    await send('b', '1') // 1
    await send('a', '2') // 2
    await send('c', '1', now - 10_000) // 3
    await send('c', null, now - 10_000) // 4: old tombstone
    await send('b', null) // 5: recent tombstone
    await send(null, 'no key') // 6
    await send('a', '3') // 7
    const result = await b.maintain({ now, force: true })
    expect(result.compacted).toBe(5)
    expect(await readAll(b, 'changelog')).toEqual([
      { offset: 5, key: 'b', value: null },
      { offset: 6, key: null, value: 'no key' },
      { offset: 7, key: 'a', value: '3' },
    ])
    expect((await b.beginningOffsets([{ topic: 'changelog', partition: 0 }]))[0]!.offset).toBe(5)

    // a later pass: new values supersede old ones that were already clean; the tombstone of b ages out
    await send('a', '4') // 8
    await send('d', '1') // 9
    await b.maintain({ now: now + 5_000, force: true })
    expect(await readAll(b, 'changelog')).toEqual([
      { offset: 6, key: null, value: 'no key' },
      { offset: 8, key: 'a', value: '4' },
      { offset: 9, key: 'd', value: '1' },
    ])
    expect((await b.endOffsets([{ topic: 'changelog', partition: 0 }]))[0]!.offset).toBe(10)
  })

  it('without force, compaction waits until enough is new', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 'cl', partitions: 1, compacted: true }])
    const recs = Array.from({ length: 1500 }, (_, i) => ({
      topic: 'cl',
      partition: 0,
      key: bytes(`k${i % 10}`),
      value: bytes(String(i)),
      timestamp: Date.now(),
    }))
    await b.producer().send(recs.slice(0, 10))
    expect((await b.maintain()).compacted).toBe(0)
    await b.producer().send(recs.slice(10))
    expect((await b.maintain()).compacted).toBe(1490)
    const rest = await readAll(b, 'cl')
    expect(rest.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 1490 + i))
  })

  it('runs in the background on its own', async () => {
    const b = openSqliteBroker({ path: join(tempDir(), 'b.sqlite'), maintenanceIntervalMs: 20 })
    open.push(b)
    await b.ensureTopics([{ name: 'r', partitions: 1, retentionMs: 1 }])
    await b.producer().send([{ topic: 'r', partition: 0, key: null, value: bytes('x'), timestamp: 0 }])
    for (let i = 0; i < 500; i++) {
      if ((await b.beginningOffsets([{ topic: 'r', partition: 0 }]))[0]!.offset === 1) break
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(await readAll(b, 'r')).toEqual([])
  })
})
