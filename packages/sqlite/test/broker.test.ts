/**
 * The sqlite:// broker's own behaviour on real files (what every broker must do
 * is in the conformance suite): errors naming the file, topic and partition, a
 * long poll woken by another broker instance appending, a closed broker.
 */
import { join } from 'node:path'
import { BrokerError } from '@stream-app/core'
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

  it('operations on a closed broker fail clearly', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = openSqliteBroker({ path })
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    await b.close()
    await expect(b.partitions('t')).rejects.toThrow(`broker ${path} is closed`)
  })
})
