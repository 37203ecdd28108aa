/**
 * Kafka's own consumer-group behaviour on the real broker (what every broker must do is in the
 * conformance suite): range co-partitioning in contiguous halves, eager listener order, members,
 * and a long pause with a bounded prefetch.
 */
import {
  type Broker,
  ConfigError,
  type GroupConsumer,
  type RecordBatch,
  type TopicPartition,
} from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { groupSettings } from '../src/group-protocol.ts'
import { openKafkaBroker } from '../src/index.ts'
import { buf, drain, eventually, kafkaUrl, openBroker, text, uniq } from './helpers.ts'

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

  for (const protocol of ['consumer', 'classic'] as const)
    it(`group.protocol ${protocol}: splits co-partitioned topics by range, revokes ${protocol === 'consumer' ? 'only what moves' : 'everything'} before the other member is assigned, and awaits onAssign before fetching`, async () => {
      const pb = await openKafkaBroker({ url: kafkaUrl(), brokerOptions: { 'group.protocol': protocol } })
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
        pb.groupConsumer({
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
      /** Values c1 fetched, per partition of t1, in order. */
      const seen = new Map<number, string[]>()
      const note = (batches: RecordBatch[]) => {
        for (const bt of check(batches))
          if (bt.topic === t1)
            seen.set(bt.partition, [
              ...(seen.get(bt.partition) ?? []),
              ...bt.records.map((r) => text(r.value)!),
            ])
      }
      await eventually(
        async () => {
          note(await c1.fetch({ maxRecords: 1000, maxWaitMs: 100 }))
          return [0, 1, 2, 3].every((p) => (seen.get(p)?.length ?? 0) >= 5)
        },
        20_000,
        'c1 to read what is there',
      )

      const c2 = make('two')
      // c1 keeps fetching while c2 joins, as the runtime's fetch loop would.
      let stop = false
      const loop = (async () => {
        while (!stop) note(await c1.fetch({ maxRecords: 1000, maxWaitMs: 100 }))
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

      // c1 gave up c2's half before c2 got it: under the classic protocol everything (eager), then
      // its own half back; under KIP-848 only what moved, and nothing of what it kept.
      const firstAssignTwo = events.findIndex((e) => e.who === 'two' && e.kind === 'assign')
      const revokeOne = events.findIndex((e) => e.who === 'one' && e.kind === 'revoke')
      expect(revokeOne).toBeGreaterThanOrEqual(0)
      expect(revokeOne).toBeLessThan(firstAssignTwo)
      const ofOne = events.filter((e) => e.who === 'one')
      if (protocol === 'classic') expect(ofOne.map((e) => e.kind)).toEqual(['assign', 'revoke', 'assign'])
      else {
        expect(ofOne.map((e) => e.kind)).toEqual(['assign', 'revoke'])
        expect(ofOne[1]!.tps).toEqual(fmt(c2.assignment()))
        // What c1 kept flowed on: every record of its partitions came once, none read again.
        for (const p of parts(c1, t1)) await produce(t1, p, 5, 'w')
        await eventually(
          async () => {
            note(await c1.fetch({ maxRecords: 1000, maxWaitMs: 100 }))
            return parts(c1, t1).every((p) => (seen.get(p)?.length ?? 0) >= 10)
          },
          20_000,
          "c1's kept partitions to deliver what was sent after the rebalance",
        )
        const expected = [
          ...Array.from({ length: 5 }, (_, i) => `v${i}`),
          ...Array.from({ length: 5 }, (_, i) => `w${i}`),
        ]
        for (const p of parts(c1, t1)) expect(seen.get(p)).toEqual(expected)
      }

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
      await pb.close()
    })

  it('refuses, in one line at creation, group settings the protocol rejects or would ignore', async () => {
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { 'session.timeout.ms': 6000 },
        /'session.timeout.ms' is not used by the consumer group protocol.*'group.consumer.session.timeout.ms'/,
      ],
      [
        { 'heartbeat.interval.ms': 500 },
        /'heartbeat.interval.ms' is not used by the consumer group protocol/,
      ],
      [{ 'group.remote.assignor': 'uniform' }, /'group.remote.assignor' must be 'range'/],
      [
        { 'group.protocol': 'classic', 'partition.assignment.strategy': 'cooperative-sticky' },
        /'partition.assignment.strategy' must be 'range'/,
      ],
    ]
    // librdkafka itself refuses a protocol it does not know, when the broker is opened.
    await expect(
      openKafkaBroker({ url: kafkaUrl(), brokerOptions: { 'group.protocol': 'eager' } }),
    ).rejects.toThrow(/group.protocol/)
    for (const [brokerOptions, message] of cases) {
      const pb = await openKafkaBroker({ url: kafkaUrl(), brokerOptions })
      try {
        let error: unknown
        try {
          pb.groupConsumer({ groupId: uniq('bad'), topics: ['t'], listener })
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(ConfigError)
        expect((error as Error).message).toMatch(message)
        expect((error as Error).message).not.toContain('\n')
      } finally {
        await pb.close()
      }
    }
  })

  it('group settings: the broker range assignor and the worker id under KIP-848; the user session under classic', () => {
    expect(groupSettings({}, 'w-1')).toEqual({
      protocol: 'consumer',
      settings: {
        'group.protocol': 'consumer',
        'group.instance.id': 'w-1',
        'group.remote.assignor': 'range',
      },
    })
    expect(groupSettings({ 'group.protocol': 'classic' }, undefined).settings).toEqual({
      'group.protocol': 'classic',
      'session.timeout.ms': 10_000,
      'heartbeat.interval.ms': 1_000,
      'partition.assignment.strategy': 'range',
    })
    // What the user sets wins (it is spread before these settings).
    expect(
      groupSettings({ 'group.protocol': 'classic', 'session.timeout.ms': 45_000 }, 'w-1').settings,
    ).toEqual({
      'group.protocol': 'classic',
      'group.instance.id': 'w-1',
      'heartbeat.interval.ms': 1_000,
      'partition.assignment.strategy': 'range',
    })
  })

  it('static membership: a worker id still held waits for its release; a clean close releases it at once', async () => {
    const topic = uniq('static')
    const group = uniq('static-grp')
    await b.ensureTopics([{ name: topic, partitions: 4 }])
    const warnings: string[] = []
    const sb = await openKafkaBroker({
      url: kafkaUrl(),
      log: {
        debug: () => {},
        info: () => {},
        warn: (m: string) => warnings.push(m),
        error: (m: string) => warnings.push(m),
      },
    })
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const make = () => sb.groupConsumer({ groupId: group, topics: [topic], instanceId: 'worker-7', listener })
    const first = make()
    await first.start()
    expect(first.assignment()).toHaveLength(4)
    // The same id while its holder is still a member: the broker refuses it, and the join is tried again.
    const second = make()
    let joined = false
    const joining = second.start().then(() => {
      joined = true
    })
    await eventually(
      () => warnings.some((w) => /still holds worker id 'worker-7'/.test(w)),
      20_000,
      'the refusal to be noticed',
    )
    expect(joined).toBe(false)
    // A clean close leaves as a static member (epoch -2): the id is free at once, not after the
    // broker's session timeout (10 s on the test broker), and its partitions go to the next holder.
    const closedAt = Date.now()
    await first.close()
    await joining
    expect(Date.now() - closedAt).toBeLessThan(8_000)
    expect(second.assignment()).toHaveLength(4)
    await second.close()
    await sb.close()
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
})
