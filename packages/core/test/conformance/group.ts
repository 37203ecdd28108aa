/**
 * The broker suite's consumer-group cases with one member: assignment,
 * start() after onAssign, committed offsets, autoOffsetReset, pause/resume,
 * seek, wakeup and subscribe().
 */
import { expect, it } from 'vitest'
import { BrokerError } from '../../src/index.ts'
import type { GroupConsumer, RebalanceListener, TopicPartition } from '../../src/ports/index.ts'
import type { SuiteContext } from './support.ts'
import {
  delay,
  drain,
  eventually,
  expectFailure,
  fill,
  keys,
  records,
  soon,
  text,
  uniq,
  within,
} from './support.ts'

const quiet: RebalanceListener = { onAssign: async () => {}, onRevoke: async () => {} }

export function groupCases(ctx: SuiteContext): void {
  const member = (
    topics: readonly string[],
    options: { groupId?: string; listener?: RebalanceListener; autoOffsetReset?: 'earliest' | 'latest' } = {},
  ): GroupConsumer =>
    ctx.track(
      ctx.broker().groupConsumer({
        groupId: options.groupId ?? uniq('group'),
        topics,
        listener: options.listener ?? quiet,
        ...(options.autoOffsetReset ? { autoOffsetReset: options.autoOffsetReset } : {}),
      }),
    )

  it('a single member gets every partition of its topics, and start() resolves after onAssign finished', async () => {
    const b = ctx.broker()
    const t1 = uniq('single-a')
    const t2 = uniq('single-b')
    await b.ensureTopics([
      { name: t1, partitions: 3 },
      { name: t2, partitions: 2 },
    ])
    await fill(b, t1, 3, 2)
    await fill(b, t2, 2, 2)
    const log: string[] = []
    const c = member([t1, t2], {
      listener: {
        onAssign: async (tps) => {
          log.push(`assign-start ${keys(tps).join(',')}`)
          await delay(50)
          log.push('assign-end')
        },
        onRevoke: async () => {},
      },
    })
    await c.start()
    const all = [...[0, 1, 2].map((p) => `${t1}:${p}`), ...[0, 1].map((p) => `${t2}:${p}`)].sort()
    expect(log).toEqual([`assign-start ${all.join(',')}`, 'assign-end'])
    expect(keys(c.assignment())).toEqual(all)
    const got = await drain(c, 10)
    expect(new Set(got.map((r) => `${r.topic}:${r.partition}`))).toEqual(new Set(all))
  })

  it('committed offsets survive closing the member; a new member resumes there, another group has none', async () => {
    const b = ctx.broker()
    const topic = uniq('commit')
    const groupId = uniq('commit-group')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    await b.producer().send(records(topic, 0, 5, 'm'))
    await b.producer().send(records(topic, 1, 2, 'n'))
    const c1 = member([topic], { groupId })
    await c1.start()
    expect(await c1.committed([{ topic, partition: 0 }])).toEqual([])
    await drain(c1, 7)
    await c1.commit([
      { topic, partition: 0, offset: 3 },
      { topic, partition: 1, offset: 2 },
    ])
    await c1.close()

    const c2 = ctx.track((await ctx.peer()).groupConsumer({ groupId, topics: [topic], listener: quiet }))
    await c2.start()
    expect(
      await c2.committed([
        { topic, partition: 0 },
        { topic, partition: 1 },
      ]),
    ).toEqual([
      { topic, partition: 0, offset: 3 },
      { topic, partition: 1, offset: 2 },
    ])
    const rest = await drain(c2, 2)
    expect(rest.map((r) => `${r.partition}@${r.offset} ${text(r.value)}`)).toEqual(['0@3 m3', '0@4 m4'])
    expect(await c2.fetch({ maxRecords: 100, maxWaitMs: 200 })).toEqual([])
    const other = member([topic])
    await other.start()
    expect(await other.committed([{ topic, partition: 0 }])).toEqual([])
  })

  it("autoOffsetReset: 'latest' starts a group without offsets at the end, 'earliest' (the default) at the beginning", async () => {
    const b = ctx.broker()
    const topic = uniq('reset')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    await b.producer().send(records(topic, 0, 2, 'old'))
    const latest = member([topic], { autoOffsetReset: 'latest' })
    await latest.start()
    // Kafka fixes where a 'latest' member starts when its fetching begins, shortly after start():
    // a record sent at once may fall before that. So send one at a time until records come.
    const got: string[] = []
    let sent = 0
    await eventually(
      async () => {
        await b.producer().send(records(topic, 0, 1, `new${sent++}-`))
        for (const x of await latest.fetch({ maxRecords: 100, maxWaitMs: 200 }))
          got.push(...x.records.map((r) => `${r.offset} ${text(r.value)}`))
        return got.length > 0
      },
      "the 'latest' member to fetch",
      () => ({ sent, got }),
    )
    // Only what was sent after it started, from some point on, in order, nothing of before.
    const from = Number(got[0]!.split(' ')[0])
    expect(from).toBeGreaterThanOrEqual(2)
    expect(got).toEqual(Array.from({ length: 2 + sent - from }, (_, i) => `${from + i} new${from + i - 2}-0`))
    const earliest = member([topic])
    await earliest.start()
    expect((await drain(earliest, 2 + sent)).map((r) => text(r.value))).toEqual([
      'old0',
      'old1',
      ...Array.from({ length: sent }, (_, i) => `new${i}-0`),
    ])
  })

  it('pause: nothing of a paused partition is fetched; after resume everything, in order, nothing lost', async () => {
    const b = ctx.broker()
    const topic = uniq('pause')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    const c = member([topic])
    await c.start()
    const p0: TopicPartition = { topic, partition: 0 }
    c.pause([p0])
    await b.producer().send(records(topic, 0, 50, 'p0-'))
    await b.producer().send(records(topic, 1, 50, 'p1-'))
    const whilePaused = await drain(c, 50)
    // More chances for partition 0 to (wrongly) show up.
    for (let i = 0; i < 3; i++)
      whilePaused.push(...(await c.fetch({ maxRecords: 1000, maxWaitMs: 100 })).flatMap((x) => x.records))
    expect(whilePaused.map((r) => text(r.value))).toEqual(Array.from({ length: 50 }, (_, i) => `p1-${i}`))
    c.resume([p0])
    const after = await drain(c, 50)
    expect(after.map((r) => `${r.offset} ${text(r.value)}`)).toEqual(
      Array.from({ length: 50 }, (_, i) => `${i} p0-${i}`),
    )
  })

  it('seek rewinds or skips a partition of a group member; the others go on', async () => {
    const b = ctx.broker()
    const topic = uniq('seek')
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    await b.producer().send(records(topic, 0, 6))
    const c = member([topic])
    await c.start()
    expect((await drain(c, 6)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5])
    c.seek({ topic, partition: 0, offset: 2 })
    expect((await drain(c, 4)).map((r) => r.offset)).toEqual([2, 3, 4, 5])
    c.seek({ topic, partition: 0, offset: 4 })
    await b.producer().send(records(topic, 1, 1, 'other'))
    const got = await drain(c, 3)
    expect(got.map((r) => `${r.partition}@${r.offset}`).sort()).toEqual(['0@4', '0@5', '1@0'])
    expect(c.position?.({ topic, partition: 0 })).toBe(6)
  })

  it('wakeup ends a waiting fetch of a group member promptly, with nothing', async () => {
    const b = ctx.broker()
    const topic = uniq('gwake')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const c = member([topic])
    await c.start()
    const pending = c.fetch({ maxRecords: 10, maxWaitMs: 60_000 })
    soon(() => c.wakeup())
    expect(await within(pending, 20_000)).toEqual([])
    await b.producer().send(records(topic, 0, 1))
    expect((await drain(c, 1)).map((r) => r.offset)).toEqual([0])
  })

  it('a closed member holds nothing, fetches nothing, and its commit fails with a BrokerError', async () => {
    const b = ctx.broker()
    const topic = uniq('closed')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    await b.producer().send(records(topic, 0, 3))
    const c = member([topic])
    await c.start()
    await c.close()
    expect(c.assignment()).toEqual([])
    expect(await within(c.fetch({ maxRecords: 10, maxWaitMs: 60_000 }), 20_000)).toEqual([])
    const err = await c.commit([{ topic, partition: 0, offset: 1 }]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expectFailure(err, 'groupConsumer', 'BrokerError')
  })

  it('subscribe() adds a topic: its partitions are assigned (after onAssign) and fetched', async () => {
    const b = ctx.broker()
    const t1 = uniq('sub-a')
    const t2 = uniq('sub-b')
    await b.ensureTopics([
      { name: t1, partitions: 2 },
      { name: t2, partitions: 2 },
    ])
    await fill(b, t2, 2, 3)
    const assigned: string[] = []
    const c = member([t1], {
      listener: { onAssign: async (tps) => void assigned.push(...keys(tps)), onRevoke: async () => {} },
    })
    await c.start()
    await c.subscribe([t1, t2])
    const want = [`${t1}:0`, `${t1}:1`, `${t2}:0`, `${t2}:1`]
    const got: string[] = []
    // Some brokers assign on the next poll: keep fetching as the runtime does.
    await eventually(
      async () => {
        for (const x of await c.fetch({ maxRecords: 100, maxWaitMs: 100 }))
          got.push(...x.records.map((r) => `${r.topic}:${r.partition}@${r.offset}`))
        return keys(c.assignment()).join() === want.join() && got.length >= 6
      },
      `the assignment ${want.join()} and 6 records of ${t2}`,
      () => ({ assignment: keys(c.assignment()), got }),
    )
    expect(new Set(assigned)).toEqual(new Set(want))
    expect(got.sort()).toEqual([0, 1].flatMap((p) => [0, 1, 2].map((o) => `${t2}:${p}@${o}`)))
  })
}
