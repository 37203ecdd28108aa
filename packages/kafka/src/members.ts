/**
 * Group members with their metadata (the worker's web URL) and what they own,
 * for routing table queries to a partition's owner.
 *
 * librdkafka's built-in assignors cannot carry member userdata, so each member
 * writes `{clientId → {metadata, assignment}}` to a compacted single-partition
 * topic `<group>-__members`: when it joins, after each assignment it has
 * finished handling (its tables are ready), after each revocation (nothing),
 * and a tombstone when it leaves cleanly. A partition belongs to the member
 * whose latest record claiming it is the newest in the topic, so a crashed
 * member's stale claims lose to whoever took its partitions over.
 *
 * This used to ask the broker (DescribeGroups). During a broker outage an
 * abandoned DescribeGroups request makes librdkafka 2.15 abort the whole
 * process (rd_kafka_admin_coord_response_parse: eonce refcnt assertion), and
 * describeGroups is known to crash on unreachable clusters
 * (confluent-kafka-javascript#531); a plain read of a topic has neither problem.
 */
import type { GroupMember, PartitionReader, Producer, TopicPartition, TopicSpec } from '@stream-app/core'
import { retryPromise, tpKey } from '@stream-app/core/runtime'
import type { ClientContext } from './client.ts'

const READ_FOR_MS = 5_000
const POLL_MS = 100
/** A read of the members topic that came back short of its end (retried until READ_FOR_MS). */
const BEHIND = new Error('the members topic is not read to its end yet')

export interface MembersDeps {
  readonly ctx: ClientContext
  readonly producer: Producer
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>
  endOffset(topic: string): Promise<number>
  reader(topic: string): PartitionReader
}

export const membersTopic = (groupId: string): string => `${groupId}-__members`

interface Claim {
  readonly metadata: string
  readonly assignment: readonly TopicPartition[]
  /** Offset of the record in the members topic: newer claims win. */
  readonly offset: number
}

interface Tail {
  readonly topic: string
  readonly reader: PartitionReader
  readonly claims: Map<string, Claim>
  position: number
}

/** Record value: JSON `{metadata, assignment: [[topic, partition], ...]}`. */
const encode = (metadata: string, assignment: readonly TopicPartition[]): Buffer =>
  Buffer.from(JSON.stringify({ metadata, assignment: assignment.map((tp) => [tp.topic, tp.partition]) }))

function decode(value: Uint8Array, offset: number): Claim {
  const text = Buffer.from(value).toString('utf8')
  try {
    const v = JSON.parse(text) as { metadata?: unknown; assignment?: unknown }
    if (typeof v.metadata === 'string' && Array.isArray(v.assignment))
      return {
        metadata: v.metadata,
        assignment: (v.assignment as [string, number][]).map(([topic, partition]) => ({ topic, partition })),
        offset,
      }
  } catch {}
  // An older record: the metadata alone.
  return { metadata: text, assignment: [], offset }
}

export class MembersRegistry {
  private readonly tails = new Map<string, Promise<Tail>>()
  /** Our own writes in flight: members() waits for them, so it sees at least what this process claimed. */
  private writes: Promise<unknown> = Promise.resolve()

  constructor(private readonly deps: MembersDeps) {}

  /** Joins: creates the topic if needed and says who we are, owning nothing yet. */
  async announce(groupId: string, clientId: string, metadata: string): Promise<void> {
    await this.deps.ensureTopics([
      { name: membersTopic(groupId), partitions: 1, compacted: true, internal: true },
    ])
    await this.write(groupId, clientId, encode(metadata, []))
  }

  /**
   * Records what a member now owns (after its assignment is handled, or nothing after a
   * revocation). Not awaited by the rebalance: during an outage it waits for the broker.
   */
  claim(groupId: string, clientId: string, metadata: string, assignment: readonly TopicPartition[]): void {
    this.write(groupId, clientId, encode(metadata, assignment)).catch((e: unknown) =>
      this.deps.ctx.report(
        'warn',
        `group '${groupId}': recording the assignment of ${clientId} failed: ${e instanceof Error ? e.message : String(e)}`,
      ),
    )
  }

  leave(groupId: string, clientId: string): Promise<void> {
    return this.write(groupId, clientId, null)
  }

  private write(groupId: string, clientId: string, value: Buffer | null): Promise<void> {
    const sent = this.deps.producer.send([
      {
        topic: membersTopic(groupId),
        partition: 0,
        key: Buffer.from(clientId),
        value,
        timestamp: Date.now(),
      },
    ])
    this.writes = Promise.allSettled([this.writes, sent])
    return sent.then(() => {})
  }

  /**
   * The members that own partitions, as far as the members topic tells by now. Never
   * fails: with the broker unreachable it answers from what it has read before.
   */
  async members(groupId: string): Promise<readonly GroupMember[]> {
    await this.writes
    const tail = await this.tail(groupId)
    await this.catchUp(tail)
    const owner = new Map<string, { clientId: string; offset: number }>()
    for (const [clientId, c] of tail.claims) {
      for (const tp of c.assignment) {
        const k = tpKey(tp.topic, tp.partition)
        const prev = owner.get(k)
        if (!prev || prev.offset < c.offset) owner.set(k, { clientId, offset: c.offset })
      }
    }
    const out: GroupMember[] = []
    for (const [clientId, c] of tail.claims) {
      const assignment = c.assignment.filter(
        (tp) => owner.get(tpKey(tp.topic, tp.partition))?.clientId === clientId,
      )
      if (assignment.length) out.push({ memberId: clientId, metadata: c.metadata, assignment })
    }
    return out
  }

  private tail(groupId: string): Promise<Tail> {
    let t = this.tails.get(groupId)
    if (!t) {
      const topic = membersTopic(groupId)
      t = Promise.resolve({
        topic,
        reader: this.deps.reader(topic),
        claims: new Map<string, Claim>(),
        position: 0,
      })
      this.tails.set(groupId, t)
    }
    return t
  }

  /**
   * Reads up to the topic's end (or, when the broker cannot say, until a poll comes back
   * empty), for at most READ_FOR_MS; a poll that brings nothing short of the end is tried
   * again after the shared backoff (each poll itself waits up to POLL_MS for records).
   */
  private async catchUp(tail: Tail): Promise<void> {
    const end = await this.deps.endOffset(tail.topic).catch(() => undefined)
    // Out of time or failing to read: members() answers from what was read so far.
    await retryPromise(() => this.readOn(tail, end), {
      retry: (e) => e === BEHIND,
      forMs: READ_FOR_MS,
      baseMs: 10,
      maxMs: 500,
    }).catch(() => {})
  }

  /** Polls while the polls bring records and the end is not reached; BEHIND when one brings none. */
  private async readOn(tail: Tail, end: number | undefined): Promise<void> {
    while (end === undefined || tail.position < end) {
      const batches = await tail.reader.fetch({ maxRecords: 10_000, maxWaitMs: POLL_MS })
      const got = batches.some((b) => b.records.length)
      if (end === undefined && !got) return
      for (const b of batches) {
        for (const r of b.records) {
          const k = r.key ? Buffer.from(r.key).toString('utf8') : ''
          if (r.value === null) tail.claims.delete(k)
          else tail.claims.set(k, decode(r.value, r.offset))
          tail.position = r.offset + 1
        }
      }
      // Compaction can leave the end past the last record: the reader's position says where it is.
      const pos = tail.reader.position?.({ topic: tail.topic, partition: 0 })
      if (pos !== undefined && pos > tail.position) tail.position = pos
      if (end !== undefined && tail.position >= end) return
      // With no end to reach, each further poll waits its turn (bounded by READ_FOR_MS).
      if (!got || end === undefined) throw BEHIND
    }
  }

  async close(): Promise<void> {
    const tails = [...this.tails.values()]
    this.tails.clear()
    await Promise.all(tails.map(async (t) => (await t).reader.close()))
  }
}
