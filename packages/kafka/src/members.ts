/**
 * Group members with their metadata (the worker's web URL, for routing table
 * queries to a partition's owner).
 *
 * librdkafka's built-in assignors cannot carry member userdata, so each member
 * writes `{clientId → memberMetadata}` to a compacted single-partition topic
 * `<group>-__members` when it joins (a tombstone when it leaves cleanly), and
 * `members()` joins that with the broker's authoritative view of the group
 * (DescribeGroups: member id, client id, assignment). A crashed member's stale
 * record is harmless: only members the broker reports are returned.
 */
import type { GroupMember, PartitionReader, Producer, TopicPartition, TopicSpec } from '@stream-app/core'
import { type ClientContext, call, type RdAdmin } from './client.ts'

const DESCRIBE_TIMEOUT_MS = 10_000

interface DescribedMember {
  readonly memberId: string
  readonly clientId: string
  readonly assignment?: { readonly topicPartitions?: readonly TopicPartition[] }
}

interface GroupDescriptions {
  readonly groups: readonly {
    readonly groupId: string
    readonly members: readonly DescribedMember[]
    readonly error?: { message: string }
  }[]
}

export interface MembersDeps {
  readonly ctx: ClientContext
  readonly admin: RdAdmin
  readonly producer: Producer
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>
  endOffset(topic: string): Promise<number>
  reader(topic: string): PartitionReader
}

export const membersTopic = (groupId: string): string => `${groupId}-__members`

interface Tail {
  readonly reader: PartitionReader
  position: number
  readonly metadata: Map<string, string>
}

export class MembersRegistry {
  private readonly tails = new Map<string, Promise<Tail>>()

  constructor(private readonly deps: MembersDeps) {}

  async announce(groupId: string, clientId: string, metadata: string): Promise<void> {
    const topic = membersTopic(groupId)
    await this.deps.ensureTopics([{ name: topic, partitions: 1, compacted: true }])
    await this.deps.producer.send([
      {
        topic,
        partition: 0,
        key: Buffer.from(clientId),
        value: Buffer.from(metadata),
        timestamp: Date.now(),
      },
    ])
  }

  async leave(groupId: string, clientId: string): Promise<void> {
    await this.deps.producer.send([
      {
        topic: membersTopic(groupId),
        partition: 0,
        key: Buffer.from(clientId),
        value: null,
        timestamp: Date.now(),
      },
    ])
  }

  async members(groupId: string): Promise<readonly GroupMember[]> {
    const [described, meta] = await Promise.all([this.describe(groupId), this.metadata(groupId)])
    return described.map((m) => ({
      memberId: m.memberId,
      metadata: meta.get(m.clientId) ?? '',
      assignment: (m.assignment?.topicPartitions ?? []).map((tp) => ({
        topic: tp.topic,
        partition: tp.partition,
      })),
    }))
  }

  private async describe(groupId: string): Promise<readonly DescribedMember[]> {
    let res: GroupDescriptions
    try {
      res = await call<GroupDescriptions>((cb) =>
        this.deps.admin.describeGroups([groupId], { timeout: DESCRIBE_TIMEOUT_MS }, cb as never),
      )
    } catch (e) {
      throw this.deps.ctx.error(`describing consumer group '${groupId}'`, e)
    }
    const g = res.groups.find((x) => x.groupId === groupId)
    if (g?.error) throw this.deps.ctx.error(`describing consumer group '${groupId}'`, g.error)
    return g?.members ?? []
  }

  /** The latest metadata per client id, read up to the topic's current end. */
  private async metadata(groupId: string): Promise<Map<string, string>> {
    const topic = membersTopic(groupId)
    let t = this.tails.get(groupId)
    if (!t) {
      t = Promise.resolve({
        reader: this.deps.reader(topic),
        position: 0,
        metadata: new Map<string, string>(),
      })
      this.tails.set(groupId, t)
    }
    const tail = await t
    const end = await this.deps.endOffset(topic)
    const deadline = Date.now() + DESCRIBE_TIMEOUT_MS
    while (tail.position < end && Date.now() < deadline) {
      for (const b of await tail.reader.fetch({ maxRecords: 10_000, maxWaitMs: 200 })) {
        for (const r of b.records) {
          const k = r.key ? Buffer.from(r.key).toString('utf8') : ''
          if (r.value === null) tail.metadata.delete(k)
          else tail.metadata.set(k, Buffer.from(r.value).toString('utf8'))
          tail.position = r.offset + 1
        }
      }
    }
    return tail.metadata
  }

  async close(): Promise<void> {
    const tails = [...this.tails.values()]
    this.tails.clear()
    await Promise.all(tails.map(async (t) => (await t).reader.close()))
  }
}
