/**
 * The broker suite's rebalance cases with two members, each on its own broker
 * handle (as two processes would be). The assertions hold for eager and for
 * incremental rebalancing alike: only partitions that change owner are looked
 * at, never whether a member was revoked partitions it keeps.
 */
import { expect, it } from 'vitest'
import type { Broker, BrokerRecord, GroupConsumer, TopicPartitionOffset } from '../../src/ports/index.ts'
import type { SuiteContext } from './support.ts'
import { delay, eventually, fill, key, keys, uniq } from './support.ts'

/** A member that processes what it fetches, commits it in onRevoke, and journals its listener calls. */
class Member {
  readonly consumer: GroupConsumer
  readonly seen: BrokerRecord[] = []
  /** Per partition: the offset after the last record fetched (what onRevoke commits). */
  readonly next = new Map<string, TopicPartitionOffset>()
  /** Partitions between assign-start and revoke-end, and those whose onAssign has not finished. */
  readonly held = new Set<string>()
  readonly recovering = new Set<string>()

  constructor(
    readonly who: string,
    broker: Broker,
    groupId: string,
    topics: readonly string[],
    readonly journal: string[],
    readonly violations: string[],
  ) {
    this.consumer = broker.groupConsumer({
      groupId,
      topics,
      memberMetadata: who,
      listener: {
        onAssign: async (tps) => {
          for (const k of keys(tps)) {
            journal.push(`${who} assign-start ${k}`)
            this.held.add(k)
            this.recovering.add(k)
          }
          await delay(30) // the runtime recovers tables here
          for (const k of keys(tps)) {
            this.recovering.delete(k)
            journal.push(`${who} assign-end ${k}`)
          }
        },
        onRevoke: async (tps) => {
          for (const k of keys(tps)) journal.push(`${who} revoke-start ${k}`)
          const offsets = tps.flatMap((tp) => {
            const o = this.next.get(key(tp))
            return o ? [o] : []
          })
          await this.consumer.commit(offsets)
          for (const k of keys(tps)) {
            this.held.delete(k)
            journal.push(`${who} revoke-end ${k}`)
          }
        },
      },
    })
  }

  async poll(maxWaitMs: number): Promise<void> {
    for (const b of await this.consumer.fetch({ maxRecords: 1000, maxWaitMs })) {
      const k = key(b)
      if (!this.held.has(k)) this.violations.push(`${this.who} fetched ${k} it does not hold`)
      if (this.recovering.has(k))
        this.violations.push(`${this.who} fetched ${k} before its onAssign finished`)
      this.seen.push(...b.records)
      const last = b.records[b.records.length - 1]!
      this.next.set(k, { topic: b.topic, partition: b.partition, offset: last.offset + 1 })
    }
  }

  /** Its partitions as replayed from its journal (assigned, minus revoked). */
  replayed(): string[] {
    const held = new Set<string>()
    for (const line of this.journal) {
      const [who, kind, k] = line.split(' ') as [string, string, string]
      if (who !== this.who) continue
      if (kind === 'assign-start') held.add(k)
      if (kind === 'revoke-end') held.delete(k)
    }
    return [...held].sort()
  }
}

/** The journal index of the first line matching, or -1. */
const first = (journal: readonly string[], line: string) => journal.indexOf(line)
const last = (journal: readonly string[], line: string) => journal.lastIndexOf(line)

export function rebalanceCases(ctx: SuiteContext): void {
  /**
   * Two co-partitioned topics of 4 partitions with 3 records each; member A
   * starts alone, then B joins while A keeps fetching, until each holds 4.
   */
  async function split() {
    const b = ctx.broker()
    const t1 = uniq('rb-in')
    const t2 = uniq('rb-table')
    const groupId = uniq('rb-group')
    await b.ensureTopics([
      { name: t1, partitions: 4 },
      { name: t2, partitions: 4 },
    ])
    await fill(b, t1, 4, 3)
    await fill(b, t2, 4, 3)
    const journal: string[] = []
    const violations: string[] = []
    const a = new Member('A', b, groupId, [t1, t2], journal, violations)
    ctx.track(a.consumer)
    await a.consumer.start()
    const all = [t1, t2].flatMap((t) => [0, 1, 2, 3].map((p) => `${t}:${p}`)).sort()
    expect(keys(a.consumer.assignment())).toEqual(all)
    await a.poll(200)

    const bm = new Member('B', await ctx.peer(), groupId, [t1, t2], journal, violations)
    ctx.track(bm.consumer)
    // A keeps fetching while B joins, as the runtime's fetch loop would.
    let stop = false
    const loop = (async () => {
      while (!stop) await a.poll(100)
    })()
    const state = () => ({ a: keys(a.consumer.assignment()), b: keys(bm.consumer.assignment()), journal })
    try {
      await bm.consumer.start()
      await eventually(
        () => a.consumer.assignment().length === 4 && bm.consumer.assignment().length === 4,
        'a 4/4 split',
        state,
      )
    } finally {
      stop = true
      await loop
    }
    return { b, t1, t2, all, a, bm, journal, violations, state }
  }

  /** Fetches with `pollers` until every record of the topics was seen by one of `members`. */
  async function everythingSeen(
    b: Broker,
    topics: readonly string[],
    pollers: readonly Member[],
    members: readonly Member[],
    state: () => unknown,
  ) {
    const tps = topics.flatMap((topic) => [0, 1, 2, 3].map((partition) => ({ topic, partition })))
    const ends = await b.endOffsets(tps)
    const missing = () => {
      const seen = new Set(members.flatMap((m) => m.seen.map((r) => `${key(r)}@${r.offset}`)))
      return ends.flatMap((e) =>
        Array.from({ length: e.offset }, (_, o) => `${key(e)}@${o}`).filter((x) => !seen.has(x)),
      )
    }
    await eventually(
      async () => {
        for (const m of pollers) await m.poll(50)
        return missing().length === 0
      },
      'every record to be fetched by a member',
      () => ({ missing: missing(), state: state() }),
    )
  }

  it('two members: co-partitioned topics split by partition number; onRevoke of a moved partition ends before its new owner is assigned it, whose onAssign ends before it fetches; nothing lost with offsets committed in onRevoke', async () => {
    const { b, t1, t2, a, bm, journal, violations, state } = await split()
    // Co-partitioned: each member holds the same partition numbers of both topics.
    const numbers = (c: GroupConsumer, topic: string) =>
      c
        .assignment()
        .filter((tp) => tp.topic === topic)
        .map((tp) => tp.partition)
        .sort()
    expect(numbers(a.consumer, t1), JSON.stringify(state())).toEqual(numbers(a.consumer, t2))
    expect(numbers(bm.consumer, t1)).toEqual(numbers(bm.consumer, t2))
    expect([...numbers(a.consumer, t1), ...numbers(bm.consumer, t1)].sort()).toEqual([0, 1, 2, 3])
    // What the journal says each member holds is what it holds.
    expect(a.replayed()).toEqual(keys(a.consumer.assignment()))
    expect(bm.replayed()).toEqual(keys(bm.consumer.assignment()))
    // Every partition B got was A's: A's onRevoke of it ended before B's onAssign of it began.
    for (const k of keys(bm.consumer.assignment())) {
      const revoked = last(journal, `A revoke-end ${k}`)
      expect(revoked, `A revoked ${k}: ${journal.join(' | ')}`).toBeGreaterThanOrEqual(0)
      expect(revoked, `${k}: ${journal.join(' | ')}`).toBeLessThan(first(journal, `B assign-start ${k}`))
    }
    // members() names both, with their metadata and what each holds (for routing queries).
    const listed = async () =>
      (await a.consumer.members()).map((m) => `${m.metadata}: ${keys(m.assignment).join()}`).sort()
    const want = [`A: ${keys(a.consumer.assignment()).join()}`, `B: ${keys(bm.consumer.assignment()).join()}`]
    let seen: string[] = []
    await eventually(
      async () => (seen = await listed()).join('|') === want.join('|'),
      'members() to list both members',
      () => ({ seen, want }),
    )
    await fill(b, t1, 4, 2, 'after')
    await everythingSeen(b, [t1, t2], [a, bm], [a, bm], state)
    expect(violations).toEqual([])
  })

  it('a member that closes revokes everything it holds; the other gets its partitions after that onRevoke, and nothing is lost', async () => {
    const { b, t1, t2, all, a, bm, journal, violations, state } = await split()
    await fill(b, t1, 4, 2, 'mid')
    await eventually(
      async () => {
        await bm.poll(50)
        await a.poll(50)
        return bm.seen.length > 0
      },
      'B to fetch some of its records',
      state,
    )
    const held = keys(bm.consumer.assignment())
    const before = journal.length
    await bm.consumer.close()
    expect(bm.consumer.assignment()).toEqual([])
    expect(
      journal
        .slice(before)
        .filter((l) => l.startsWith('B revoke-end'))
        .sort(),
    ).toEqual(held.map((k) => `B revoke-end ${k}`))
    // A takes them over (it may need to fetch to learn of the change).
    await eventually(
      async () => {
        await a.poll(100)
        return a.consumer.assignment().length === 8
      },
      'A to hold all 8 partitions',
      state,
    )
    expect(keys(a.consumer.assignment())).toEqual(all)
    expect(a.replayed()).toEqual(all)
    for (const k of held)
      expect(last(journal, `B revoke-end ${k}`), `${k}: ${journal.join(' | ')}`).toBeLessThan(
        last(journal, `A assign-start ${k}`),
      )
    await fill(b, t1, 4, 2, 'after')
    await everythingSeen(b, [t1, t2], [a], [a, bm], state)
    expect(violations).toEqual([])
  })
}
