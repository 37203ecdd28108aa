/**
 * The broker suite's log cases: topics, produce and fetch, and partition
 * readers. Every adapter (memory://, sqlite://, kafka://) must pass these.
 */
import { expect, it } from 'vitest'
import { BrokerError } from '../../src/index.ts'
import type { BrokerRecord, PartitionReader } from '../../src/ports/index.ts'
import { Outbox } from '../../src/runtime/internal/outbox.ts'
import type { SuiteContext } from './support.ts'
import { bytes, drain, expectFailure, failureOf, fill, records, soon, text, uniq, within } from './support.ts'

const show = (r: BrokerRecord) => ({
  partition: r.partition,
  offset: r.offset,
  key: r.key === null ? null : [...r.key],
  value: r.value === null ? null : [...r.value],
  timestamp: r.timestamp,
  headers: Object.fromEntries(
    Object.entries(r.headers)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, [...v]]),
  ),
})

export function logCases(ctx: SuiteContext): void {
  it('ensureTopics is idempotent, refuses another partition count naming the topic, and partitions() of an unknown topic is undefined', async () => {
    const b = ctx.broker()
    const topic = uniq('topics')
    await b.ensureTopics([{ name: topic, partitions: 3 }])
    await b.ensureTopics([{ name: topic, partitions: 3 }])
    expect(await b.partitions(topic)).toBe(3)
    expect(await (await ctx.peer()).partitions(topic)).toBe(3)
    const err = await b.ensureTopics([{ name: topic, partitions: 5 }]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expectFailure(err, 'broker', 'BrokerError')
    expect((err as Error).message).toContain(topic)
    expect(await b.partitions(topic)).toBe(3)
    expect(await b.partitions(uniq('never-created'))).toBeUndefined()
  })

  it('a closed broker refuses to produce with a BrokerError of one line (the Broker and Producer failure unions)', async () => {
    const b = await ctx.options.open()
    const topic = uniq('closed-broker')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    await b.close()
    const err = await failureOf(() => b.producer().send(records(topic, 0, 1)))
    expectFailure(err, 'producer', 'BrokerError')
    expect((err as Error).message).toMatch(/closed/)
    expect((err as BrokerError).retriable).toBe(false)
    await b.close()
  })

  it('endOffsets and beginningOffsets: 0 and 0 for a new topic, the end moves with every record', async () => {
    const b = ctx.broker()
    const topic = uniq('offsets')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    const tps = [0, 1].map((partition) => ({ topic, partition }))
    expect(await b.endOffsets(tps)).toEqual(tps.map((tp) => ({ ...tp, offset: 0 })))
    expect(await b.beginningOffsets(tps)).toEqual(tps.map((tp) => ({ ...tp, offset: 0 })))
    await b.producer().send(records(topic, 1, 3))
    expect(await b.endOffsets(tps)).toEqual([
      { topic, partition: 0, offset: 0 },
      { topic, partition: 1, offset: 3 },
    ])
    expect(await b.beginningOffsets(tps)).toEqual(tps.map((tp) => ({ ...tp, offset: 0 })))
  })

  it('produce and fetch: order per partition, consecutive offsets, keys, values, null and empty keys and values, binary headers, timestamps', async () => {
    const b = ctx.broker()
    const topic = uniq('fields')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    const ts = Math.floor(Date.now() / 1000) * 1000 - 3_600_000 // recent: a broker deletes what is older than retention
    const sent = () => [
      {
        topic,
        partition: 0,
        key: bytes('k1'),
        value: bytes('v1'),
        timestamp: ts,
        headers: {
          'content-type': bytes('json'),
          'ü-bin': new Uint8Array([0, 255, 1]),
          empty: new Uint8Array(0),
        },
      },
      { topic, partition: 1, key: null, value: bytes('no key'), timestamp: ts + 1 },
      { topic, partition: 0, key: bytes('tombstone'), value: null, timestamp: ts - 86_400_000 },
      {
        topic,
        partition: 0,
        key: new Uint8Array([0, 255, 7]),
        value: new Uint8Array([1, 2, 0]),
        timestamp: ts + 3,
      },
      { topic, partition: 1, key: null, value: null, timestamp: ts + 4 },
      // Empty is not null: an empty value is no tombstone.
      { topic, partition: 0, key: new Uint8Array(0), value: new Uint8Array(0), timestamp: ts + 5 },
    ]
    const meta = await b.producer().send(sent())
    expect(meta.map((m) => [m.topic, m.partition, m.offset, m.timestamp])).toEqual([
      [topic, 0, 0, ts],
      [topic, 1, 0, ts + 1],
      [topic, 0, 1, ts - 86_400_000],
      [topic, 0, 2, ts + 3],
      [topic, 1, 1, ts + 4],
      [topic, 0, 3, ts + 5],
    ])
    const more = await b.producer().send(records(topic, 1, 2))
    expect(more.map((m) => m.offset)).toEqual([2, 3])

    const reader = ctx.track(b.reader([0, 1].map((partition) => ({ topic, partition, offset: 0 }))))
    const got = await drain(reader, 8)
    expect(got.every((r) => r.topic === topic)).toBe(true)
    const want = sent().map((r, i) => show({ ...r, offset: meta[i]!.offset, headers: r.headers ?? {} }))
    expect(got.filter((r) => r.partition === 0).map(show)).toEqual(want.filter((r) => r.partition === 0))
    expect(
      got
        .filter((r) => r.partition === 1)
        .slice(0, 2)
        .map(show),
    ).toEqual(want.filter((r) => r.partition === 1))
    expect(got.filter((r) => r.partition === 1).map((r) => r.offset)).toEqual([0, 1, 2, 3])
    // Nothing more: the reader answers with nothing.
    expect(await reader.fetch({ maxRecords: 100, maxWaitMs: 100 })).toEqual([])
  })

  it('fetch returns at most maxRecords across partitions and goes on where it stopped', async () => {
    const b = ctx.broker()
    const topic = uniq('max')
    await b.ensureTopics([{ name: topic, partitions: 3 }])
    await fill(b, topic, 3, 40)
    const reader = ctx.track(b.reader([0, 1, 2].map((partition) => ({ topic, partition, offset: 0 }))))
    const seen = new Map<number, number[]>([
      [0, []],
      [1, []],
      [2, []],
    ])
    const deadline = Date.now() + 30_000
    while ([...seen.values()].some((s) => s.length < 40)) {
      if (Date.now() > deadline) throw new Error(`stalled: ${JSON.stringify([...seen])}`)
      const batches = await reader.fetch({ maxRecords: 7, maxWaitMs: 200 })
      expect(batches.reduce((n, x) => n + x.records.length, 0)).toBeLessThanOrEqual(7)
      for (const x of batches) {
        expect(x.topic).toBe(topic)
        seen.get(x.partition)!.push(...x.records.map((r) => r.offset))
      }
    }
    for (const p of [0, 1, 2]) expect(seen.get(p)).toEqual(Array.from({ length: 40 }, (_, i) => i))
  })

  it('a fetch with nothing to read waits at most maxWaitMs, and one that waits gets what is produced meanwhile', async () => {
    const b = ctx.broker()
    const topic = uniq('wait')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const reader = ctx.track(b.reader([{ topic, partition: 0, offset: 0 }]))
    // 300 ms asked; a fetch that ignored maxWaitMs would still hang at 20 s.
    expect(await within(reader.fetch({ maxRecords: 10, maxWaitMs: 300 }), 20_000)).toEqual([])
    const waiting = reader.fetch({ maxRecords: 10, maxWaitMs: 60_000 })
    soon(() => void b.producer().send(records(topic, 0, 1, 'late')))
    const got = await within(waiting, 30_000)
    expect(got === 'timeout' ? got : got.flatMap((x) => x.records.map((r) => text(r.value)))).toEqual([
      'late0',
    ])
  })

  it('a reader starts at the given offsets, seek moves it, and position() is past the last record read', async () => {
    const b = ctx.broker()
    const topic = uniq('reader')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    await b.producer().send(records(topic, 0, 10))
    await b.producer().send(records(topic, 1, 5))
    const p0 = { topic, partition: 0 }
    const p1 = { topic, partition: 1 }
    const reader: PartitionReader = ctx.track(
      b.reader([
        { ...p0, offset: 6 },
        { ...p1, offset: 2 },
      ]),
    )
    const got = await drain(reader, 7)
    expect(got.filter((r) => r.partition === 0).map((r) => text(r.value))).toEqual(['v6', 'v7', 'v8', 'v9'])
    expect(got.filter((r) => r.partition === 1).map((r) => r.offset)).toEqual([2, 3, 4])
    expect(reader.position?.(p0)).toBe(10)
    expect(reader.position?.(p1)).toBe(5)
    // Rewind one partition: the other stays where it is.
    reader.seek({ ...p0, offset: 1 })
    const again = await drain(reader, 9)
    expect(again.map((r) => `${r.partition}@${r.offset}`)).toEqual(
      Array.from({ length: 9 }, (_, i) => `0@${i + 1}`),
    )
    // Skip ahead.
    reader.seek({ ...p1, offset: 4 })
    expect((await drain(reader, 1)).map((r) => `${r.partition}@${r.offset}`)).toEqual(['1@4'])
  })

  it('wakeup ends a waiting fetch of a reader promptly, with nothing', async () => {
    const b = ctx.broker()
    const topic = uniq('wake')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const reader = ctx.track(b.reader([{ topic, partition: 0, offset: 0 }]))
    const pending = reader.fetch({ maxRecords: 10, maxWaitMs: 60_000 })
    soon(() => reader.wakeup())
    expect(await within(pending, 20_000)).toEqual([])
    // The reader still works after a wakeup.
    await b.producer().send(records(topic, 0, 1))
    expect((await drain(reader, 1)).map((r) => r.offset)).toEqual([0])
  })

  it("the runtime's outbox keeps one partition's order across unawaited writes and awaited sends", async () => {
    const b = ctx.broker()
    const topic = uniq('outbox-order')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const errors: unknown[] = []
    const outbox = new Outbox(b.producer(), (e) => errors.push(e))
    const rec = (v: string) => ({ topic, partition: 0, key: null, value: bytes(v), timestamp: Date.now() })
    const expected: string[] = []
    const sends: Promise<unknown>[] = []
    for (let round = 0; round < 5; round++) {
      // 5,000 unawaited records go out at once through push(), then an awaited one through pushAwait().
      for (let i = 0; i < 5_000; i++) {
        expected.push(`w${round}-${i}`)
        outbox.push(rec(`w${round}-${i}`))
      }
      expected.push(`s${round}`)
      sends.push(outbox.pushAwait(rec(`s${round}`)))
    }
    await Promise.all(sends)
    await outbox.flush()
    expect(errors).toEqual([])
    const reader = ctx.track(b.reader([{ topic, partition: 0, offset: 0 }]))
    const got = (await drain(reader, expected.length, 60_000)).map((r) => text(r.value))
    expect(got).toEqual(expected)
  })
}
