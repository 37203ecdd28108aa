/**
 * The sqlite:// broker's log on real files: topics, produce and fetch, offsets,
 * headers, null keys and values, timestamps, readers, long polls woken by
 * appends, pause/resume/seek, and the errors users see.
 */
import { join } from 'node:path'
import { BrokerError, type RebalanceListener, type TopicPartition } from '@stream-app/core'
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

const quiet: RebalanceListener = { onAssign: async () => {}, onRevoke: async () => {} }

describe('sqlite broker log', () => {
  it('creates topics once and rejects another partition count, naming topic and file', async () => {
    const path = join(tempDir(), 'broker.sqlite')
    const b = broker(path)
    await b.ensureTopics([
      { name: 'orders', partitions: 4 },
      { name: 'log', partitions: 1, retentionMs: 1000 },
    ])
    await b.ensureTopics([{ name: 'orders', partitions: 4 }])
    expect(await b.partitions('orders')).toBe(4)
    expect(await b.partitions('nope')).toBeUndefined()
    const err = await b.ensureTopics([{ name: 'orders', partitions: 8 }]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).message).toContain("'orders'")
    expect((err as BrokerError).message).toContain(path)
    expect((err as BrokerError).retriable).toBe(false)
    // another broker on the same file sees the topic
    expect(await broker(path).partitions('orders')).toBe(4)
  })

  it('appends in order with consecutive offsets per partition and reads everything back', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 2 }])
    const p = b.producer()
    const meta = await p.send([
      { topic: 't', partition: 0, key: bytes('k1'), value: bytes('v1'), timestamp: 1000 },
      { topic: 't', partition: 1, key: null, value: bytes('v2'), timestamp: 1001 },
      { topic: 't', partition: 0, key: bytes('k3'), value: null, timestamp: 1002 },
      {
        topic: 't',
        partition: 0,
        key: bytes(''),
        value: new Uint8Array(0),
        timestamp: 1003,
        headers: {
          'content-type': bytes('json'),
          'ü-bin': new Uint8Array([0, 255, 1]),
          empty: new Uint8Array(0),
        },
      },
    ])
    expect(meta.map((m) => [m.partition, m.offset, m.timestamp])).toEqual([
      [0, 0, 1000],
      [1, 0, 1001],
      [0, 1, 1002],
      [0, 2, 1003],
    ])
    const more = await p.send([{ topic: 't', partition: 1, key: null, value: bytes('v5'), timestamp: 5 }])
    expect(more[0]!.offset).toBe(1)
    expect(
      await b.endOffsets([
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]),
    ).toEqual([
      { topic: 't', partition: 0, offset: 3 },
      { topic: 't', partition: 1, offset: 2 },
    ])
    expect((await b.beginningOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(0)

    const r = b.reader([
      { topic: 't', partition: 0, offset: 0 },
      { topic: 't', partition: 1, offset: 0 },
    ])
    const batches = await r.fetch({ maxRecords: 100, maxWaitMs: 0 })
    const p0 = batches.find((x) => x.partition === 0)!.records
    const p1 = batches.find((x) => x.partition === 1)!.records
    expect(p0.map((x) => [x.offset, text(x.key), text(x.value), x.timestamp])).toEqual([
      [0, 'k1', 'v1', 1000],
      [1, 'k3', null, 1002],
      [2, '', '', 1003],
    ])
    expect(p0[0]!.headers).toEqual({})
    const h = p0[2]!.headers
    expect(Object.keys(h).sort()).toEqual(['content-type', 'empty', 'ü-bin'])
    expect(text(h['content-type']!)).toBe('json')
    expect([...h['ü-bin']!]).toEqual([0, 255, 1])
    expect(h.empty!.length).toBe(0)
    expect(p1.map((x) => [x.offset, x.key, text(x.value)])).toEqual([
      [0, null, 'v2'],
      [1, null, 'v5'],
    ])
    expect(p1[0]!.topic).toBe('t')
    // nothing new: an immediate empty answer
    expect(await r.fetch({ maxRecords: 100, maxWaitMs: 0 })).toEqual([])
    await r.close()
  })

  it('respects maxRecords across partitions and resumes where it stopped', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 3 }])
    const recs = Array.from({ length: 300 }, (_, i) => ({
      topic: 't',
      partition: i % 3,
      key: null,
      value: bytes(String(i)),
      timestamp: i,
    }))
    await b.producer().send(recs)
    const r = b.reader([0, 1, 2].map((partition) => ({ topic: 't', partition, offset: 0 })))
    const seen = new Map<number, number[]>()
    for (;;) {
      const batches = await r.fetch({ maxRecords: 70, maxWaitMs: 0 })
      if (!batches.length) break
      expect(batches.reduce((n, x) => n + x.records.length, 0)).toBeLessThanOrEqual(70)
      for (const x of batches)
        seen.set(x.partition, [...(seen.get(x.partition) ?? []), ...x.records.map((y) => y.offset)])
    }
    for (const p of [0, 1, 2]) expect(seen.get(p)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('rejects unknown topics and partitions, naming them', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    const p = b.producer()
    await expect(
      p.send([{ topic: 'nope', partition: 0, key: null, value: null, timestamp: 0 }]),
    ).rejects.toThrow(/unknown topic 'nope'/)
    await expect(
      p.send([{ topic: 't', partition: 3, key: null, value: null, timestamp: 0 }]),
    ).rejects.toThrow(/'t' has no partition 3/)
    // a failed batch leaves nothing behind
    await expect(
      p.send([
        { topic: 't', partition: 0, key: null, value: bytes('a'), timestamp: 0 },
        { topic: 'nope', partition: 0, key: null, value: null, timestamp: 0 },
      ]),
    ).rejects.toThrow(BrokerError)
    expect((await b.endOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(0)
  })

  it('wakes a waiting fetch when another broker instance in this process appends', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const a = broker(path)
    const other = broker(path)
    await a.ensureTopics([{ name: 't', partitions: 1 }])
    const r = a.reader([{ topic: 't', partition: 0, offset: 0 }])
    const pending = r.fetch({ maxRecords: 10, maxWaitMs: 20_000 })
    setTimeout(() => {
      void other.producer().send([{ topic: 't', partition: 0, key: null, value: bytes('hi'), timestamp: 1 }])
    }, 50)
    const got = await pending
    expect(got.map((x) => x.records.map((y) => text(y.value)))).toEqual([['hi']])
  })

  it('wakeup ends a waiting fetch with nothing', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    const r = b.reader([{ topic: 't', partition: 0, offset: 0 }])
    const pending = r.fetch({ maxRecords: 10, maxWaitMs: 20_000 })
    setTimeout(() => r.wakeup(), 20)
    expect(await pending).toEqual([])
  })

  it('group consumer: pause, resume and seek', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 2 }])
    await b.producer().send(
      [0, 1, 2, 3].map((i) => ({
        topic: 't',
        partition: i % 2,
        key: null,
        value: bytes(String(i)),
        timestamp: i,
      })),
    )
    const c = b.groupConsumer({ groupId: 'g', topics: ['t'], listener: quiet })
    await c.start()
    expect(
      c
        .assignment()
        .map((tp) => tp.partition)
        .sort(),
    ).toEqual([0, 1])
    const p0: TopicPartition = { topic: 't', partition: 0 }
    c.pause([p0])
    const first = await c.fetch({ maxRecords: 100, maxWaitMs: 0 })
    expect(first.map((x) => x.partition)).toEqual([1])
    c.resume([p0])
    const second = await c.fetch({ maxRecords: 100, maxWaitMs: 0 })
    expect(second.map((x) => [x.partition, x.records.map((y) => text(y.value))])).toEqual([[0, ['0', '2']]])
    c.seek({ topic: 't', partition: 0, offset: 1 })
    const third = await c.fetch({ maxRecords: 100, maxWaitMs: 0 })
    expect(third.map((x) => [x.partition, x.records.map((y) => y.offset)])).toEqual([[0, [1]]])
    await c.close()
  })

  it('autoOffsetReset latest starts at the end', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    await b.producer().send([{ topic: 't', partition: 0, key: null, value: bytes('old'), timestamp: 0 }])
    const c = b.groupConsumer({ groupId: 'g', topics: ['t'], listener: quiet, autoOffsetReset: 'latest' })
    await c.start()
    await b.producer().send([{ topic: 't', partition: 0, key: null, value: bytes('new'), timestamp: 0 }])
    const got = await c.fetch({ maxRecords: 100, maxWaitMs: 1000 })
    expect(got.flatMap((x) => x.records.map((y) => text(y.value)))).toEqual(['new'])
    await c.close()
  })

  it('operations on a closed broker fail clearly', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = openSqliteBroker({ path })
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    await b.close()
    await expect(b.partitions('t')).rejects.toThrow(`broker ${path} is closed`)
  })
})
