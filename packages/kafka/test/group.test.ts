/** Consumer groups on the real broker: range co-partitioning, listener order, commits, pause/resume, members. */
import type { Broker, GroupConsumer, RecordBatch, TopicPartition } from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buf, drain, eventually, openBroker, text, uniq } from './helpers.ts'

type Event = { who: string; kind: 'assign' | 'revoke' | 'assigned'; tps: string[] }

const fmt = (tps: readonly TopicPartition[]) => tps.map((tp) => `${tp.topic}:${tp.partition}`).sort()

describe('kafka:// consumer groups', () => {
  let b: Broker
  beforeAll(async () => {
    b = await openBroker()
  })
  afterAll(async () => {
    await b.close()
  })

  const produce = (topic: string, partition: number, n: number, prefix = 'v') =>
    b.producer().send(
      Array.from({ length: n }, (_, i) => ({
        topic,
        partition,
        key: buf(`k${i}`),
        value: buf(`${prefix}${i}`),
        timestamp: Date.now(),
      })),
    )

  it('splits co-partitioned topics by range, revokes before the other member is assigned, and awaits onAssign before fetching', async () => {
    const t1 = uniq('grp-orders')
    const t2 = uniq('grp-changelog')
    const group = uniq('grp')
    await b.ensureTopics([
      { name: t1, partitions: 4 },
      { name: t2, partitions: 4 },
    ])
    for (let p = 0; p < 4; p++) {
      await produce(t1, p, 5)
      await produce(t2, p, 5)
    }
    const events: Event[] = []
    const recovering = new Set<string>()
    const violations: string[] = []
    const make = (who: string): GroupConsumer =>
      b.groupConsumer({
        groupId: group,
        topics: [t1, t2],
        memberMetadata: JSON.stringify({ url: `http://${who}` }),
        listener: {
          onAssign: async (tps) => {
            events.push({ who, kind: 'assign', tps: fmt(tps) })
            for (const k of fmt(tps)) recovering.add(k)
            await new Promise((r) => setTimeout(r, 300)) // "recovery" must finish before any fetch
            for (const k of fmt(tps)) recovering.delete(k)
          },
          onRevoke: async (tps) => {
            events.push({ who, kind: 'revoke', tps: fmt(tps) })
          },
        },
      })
    const check = (batches: RecordBatch[]) => {
      for (const bt of batches) if (recovering.has(`${bt.topic}:${bt.partition}`)) violations.push(bt.topic)
      return batches
    }
    const c1 = make('one')
    await c1.start()
    expect(fmt(c1.assignment())).toHaveLength(8)
    check(await c1.fetch({ maxRecords: 1000, maxWaitMs: 500 }))

    const c2 = make('two')
    // c1 keeps fetching while c2 joins, as the runtime's fetch loop would.
    let stop = false
    const loop = (async () => {
      while (!stop) check(await c1.fetch({ maxRecords: 1000, maxWaitMs: 100 }))
    })()
    await c2.start()
    await eventually(
      () => c1.assignment().length === 4 && c2.assignment().length === 4,
      20_000,
      'a 4/4 split',
    )
    stop = true
    await loop

    const parts = (c: GroupConsumer, topic: string) =>
      c
        .assignment()
        .filter((tp) => tp.topic === topic)
        .map((tp) => tp.partition)
        .sort()
    // Co-partitioned: each member has the same partition numbers of both topics, and range gives contiguous halves.
    expect(parts(c1, t1)).toEqual(parts(c1, t2))
    expect(parts(c2, t1)).toEqual(parts(c2, t2))
    expect([...parts(c1, t1), ...parts(c2, t1)].sort()).toEqual([0, 1, 2, 3])
    expect([parts(c1, t1), parts(c2, t1)].sort()).toEqual([
      [0, 1],
      [2, 3],
    ])

    // Eager rebalance: c1 gave everything up before c2 got its half.
    const firstAssignTwo = events.findIndex((e) => e.who === 'two' && e.kind === 'assign')
    const revokeOne = events.findIndex((e) => e.who === 'one' && e.kind === 'revoke')
    expect(revokeOne).toBeGreaterThanOrEqual(0)
    expect(revokeOne).toBeLessThan(firstAssignTwo)
    expect(events.filter((e) => e.who === 'one').map((e) => e.kind)).toEqual(['assign', 'revoke', 'assign'])

    // c2 reads its partitions only after its onAssign finished.
    const got = check(await c2.fetch({ maxRecords: 1000, maxWaitMs: 2000 }))
    expect(got.length).toBeGreaterThan(0)
    expect(violations).toEqual([])

    const members = await c1.members()
    expect(members).toHaveLength(2)
    const byUrl = new Map(members.map((m) => [JSON.parse(m.metadata).url as string, fmt(m.assignment)]))
    expect(byUrl.get('http://one')).toEqual(fmt(c1.assignment()))
    expect(byUrl.get('http://two')).toEqual(fmt(c2.assignment()))

    // close() hands partitions back through onRevoke; the survivor then gets all of them.
    const held = fmt(c2.assignment())
    await c2.close()
    expect(events.at(-1)).toEqual({ who: 'two', kind: 'revoke', tps: held })
    expect(c2.assignment()).toEqual([])
    await eventually(
      async () => {
        await c1.fetch({ maxRecords: 100, maxWaitMs: 100 })
        return c1.assignment().length === 8
      },
      20_000,
      'c1 to take over',
    )
    expect((await c1.members()).map((m) => JSON.parse(m.metadata).url)).toEqual(['http://one'])
    await c1.close()
  })

  it('keeps committed offsets across a restart of the member', async () => {
    const topic = uniq('grp-commit')
    const group = uniq('grp')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    await produce(topic, 0, 10)
    await produce(topic, 1, 4)
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const c1 = b.groupConsumer({ groupId: group, topics: [topic], listener })
    await c1.start()
    expect(await c1.committed([{ topic, partition: 0 }])).toEqual([])
    const first = await drain(c1, 14)
    expect(first).toHaveLength(14)
    await c1.commit([
      { topic, partition: 0, offset: 6 },
      { topic, partition: 1, offset: 4 },
    ])
    await c1.close()

    const c2 = b.groupConsumer({ groupId: group, topics: [topic], listener })
    await c2.start()
    expect(
      await c2.committed([
        { topic, partition: 0 },
        { topic, partition: 1 },
      ]),
    ).toEqual([
      { topic, partition: 0, offset: 6 },
      { topic, partition: 1, offset: 4 },
    ])
    const rest = await drain(c2, 4)
    expect(rest.map((r) => `${r.partition}@${r.offset}`)).toEqual(['0@6', '0@7', '0@8', '0@9'])
    // Rewind with seek: the next fetch of partition 0 starts at offset 2.
    c2.seek({ topic, partition: 0, offset: 2 })
    const again = await drain(c2, 8)
    expect(again.map((r) => r.offset)).toEqual([2, 3, 4, 5, 6, 7, 8, 9])
    await c2.close()
  })

  it('pause stops fetching a partition until resume (backpressure)', async () => {
    const topic = uniq('grp-pause')
    const group = uniq('grp')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    const c = b.groupConsumer({
      groupId: group,
      topics: [topic],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await c.start()
    c.pause([{ topic, partition: 0 }])
    await produce(topic, 0, 50, 'p0-')
    await produce(topic, 1, 50, 'p1-')
    const whilePaused = await drain(c, 50)
    // Give partition 0 a fair chance to (wrongly) show up.
    for (let i = 0; i < 5; i++)
      whilePaused.push(...(await c.fetch({ maxRecords: 1000, maxWaitMs: 100 })).flatMap((x) => x.records))
    expect(new Set(whilePaused.map((r) => r.partition))).toEqual(new Set([1]))
    expect(whilePaused).toHaveLength(50)
    c.resume([{ topic, partition: 0 }])
    const after = await drain(c, 50)
    expect(after.map((r) => text(r.value))).toEqual(Array.from({ length: 50 }, (_, i) => `p0-${i}`))
    await c.close()
  })

  it('a long pause holds a bounded prefetch and loses nothing: every record comes once, in order, after resume', async () => {
    const topic = uniq('grp-longpause')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    const c = b.groupConsumer({
      groupId: uniq('grp'),
      topics: [topic],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await c.start()
    c.pause([{ topic, partition: 0 }])
    // More than the consumer keeps fetched for a paused partition before pausing it in librdkafka too.
    const n = 30_000
    await produce(topic, 0, n, 'p0-')
    await produce(topic, 1, 100, 'p1-')
    const whilePaused = await drain(c, 100)
    for (let i = 0; i < 10; i++)
      whilePaused.push(...(await c.fetch({ maxRecords: 5000, maxWaitMs: 100 })).flatMap((x) => x.records))
    expect(whilePaused.filter((r) => r.partition === 0)).toEqual([])
    expect(whilePaused).toHaveLength(100)
    c.resume([{ topic, partition: 0 }])
    const after = await drain(c, n)
    expect(after.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, i) => i))
    expect(text(after[n - 1]!.value)).toBe(`p0-${n - 1}`)
    await c.close()
  })

  it('wakeup ends a pending fetch at once', async () => {
    const topic = uniq('grp-wake')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const c = b.groupConsumer({
      groupId: uniq('grp'),
      topics: [topic],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await c.start()
    const pending = c.fetch({ maxRecords: 10, maxWaitMs: 30_000 })
    setTimeout(() => c.wakeup(), 100)
    expect(await pending).toEqual([])
    await c.close()
  })
})
