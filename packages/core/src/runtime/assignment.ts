/**
 * What this worker was given by the group, and everything keyed by it: the
 * assigned partitions, how far each is fetched and committed, the source
 * queues records go to, the subscribed and paused topics, and which table
 * partitions that makes this worker hold. The modules that change it (fetch,
 * rebalance, commit) take it as an argument and tell it what changed through
 * its methods: it is the one writer of its maps; none of them owns another.
 * It is also the one writer of each table's `owned` partitions (`settle`):
 * the rebalancer, a table's first write and a CLI command's recovery ask it
 * to settle a table, and the hot path only reads the set.
 */
import type { TopicPartition, TopicPartitionOffset } from '../ports/index.ts'
import { tpKey } from '../ports/topic-partitions.ts'
import type { SourceQueue } from './internal/source.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'

export class Assignment {
  /** Partitions the group gave this worker (kept here: consumers differ on when assignment() changes). */
  readonly partitions = new Map<string, TopicPartition>()
  private readonly fetchedTo = new Map<string, number>()
  private readonly committedTo = new Map<string, number>()
  private readonly followed = new Set<string>()
  /** The queues records of a topic go to (one per consuming agent). */
  readonly queuesByTopic = new Map<string, SourceQueue[]>()
  /** Topics whose partitions the fetch loop paused (their queues are full): the fetch loop's own. */
  readonly pausedTopics = new Set<string>()

  constructor(
    /** One partition, assigned to one member: the leader (timers with onLeader, tables like no source). */
    readonly leaderTopic: string,
    private readonly topics: ReadonlyMap<string, TopicRuntime>,
    /** A CLI command's worker: in no group, it holds every partition of every table (to read them). */
    private readonly whole = false,
  ) {}

  /** Next offset to fetch, per partition. */
  get positions(): ReadonlyMap<string, number> {
    return this.fetchedTo
  }

  /** Last committed offset, per partition. */
  get committed(): ReadonlyMap<string, number> {
    return this.committedTo
  }

  /** Topics the group consumer follows: agents' sources, repartition topics, the leader topic. */
  get subscribed(): ReadonlySet<string> {
    return this.followed
  }

  /** The group consumer is to follow a topic too; false when it already does. */
  follow(topic: string): boolean {
    if (this.followed.has(topic)) return false
    this.followed.add(topic)
    return true
  }

  /** A fetch returned records of a partition up to `next` (exclusive). */
  fetched(key: string, next: number): void {
    this.fetchedTo.set(key, next)
  }

  /** A commit made these offsets the committed ones. */
  committedAt(offsets: Iterable<TopicPartitionOffset>): void {
    for (const o of offsets) this.committedTo.set(tpKey(o.topic, o.partition), o.offset)
  }

  add(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.partitions.set(tpKey(tp.topic, tp.partition), tp)
  }

  /** Forgets revoked partitions: what was assigned, fetched and committed of them. */
  remove(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const k = tpKey(tp.topic, tp.partition)
      this.partitions.delete(k)
      this.fetchedTo.delete(k)
      this.committedTo.delete(k)
    }
  }

  /** Sets where fetching starts and what counts as committed (a new assignment, a rewind). */
  startAt(offsets: Iterable<TopicPartitionOffset>): void {
    for (const o of offsets) {
      const k = tpKey(o.topic, o.partition)
      this.fetchedTo.set(k, o.offset)
      this.committedTo.set(k, o.offset)
    }
  }

  addQueue(topic: string, q: SourceQueue): void {
    const list = this.queuesByTopic.get(topic)
    if (list) list.push(q)
    else this.queuesByTopic.set(topic, [q])
  }

  *queues(): IterableIterator<SourceQueue> {
    for (const list of this.queuesByTopic.values()) yield* list
  }

  /** Assigned partitions of topics some agent consumes. */
  sourcePartitions(): TopicPartition[] {
    return [...this.partitions.values()].filter((tp) => this.queuesByTopic.has(tp.topic))
  }

  isLeader(): boolean {
    return this.partitions.has(tpKey(this.leaderTopic, 0))
  }

  /**
   * The partitions of a table this worker holds: partition p goes with
   * partition p of the source topics that have the table's partition count
   * (every broker gives equal partitions of such topics to one member). A
   * table like no source topic is held whole by the leader.
   */
  heldPartitions(t: TableRuntime): Set<number> {
    const n = t.partitions
    const out = new Set<number>()
    if (n === undefined) return out
    if (this.whole) {
      for (let p = 0; p < n; p++) out.add(p)
      return out
    }
    const drivers = this.driversOf(n)
    if (drivers.size === 0) {
      if (this.isLeader()) for (let p = 0; p < n; p++) out.add(p)
      return out
    }
    for (const tp of this.partitions.values()) if (drivers.has(tp.topic)) out.add(tp.partition)
    return out
  }

  /**
   * A table's owned partitions become those this worker holds now (after an
   * assignment's tables are recovered, a revoke, the first write that binds
   * the table). Returns the partitions it no longer owns.
   */
  settle(t: TableRuntime): number[] {
    const next = this.heldPartitions(t)
    const gone = [...t.owned].filter((p) => !next.has(p))
    t.owned = next
    return gone
  }

  /**
   * Whether a member given `tps` holds partition p of a table of `n` partitions:
   * heldPartitions' rule, for another member's assignment (routing, standbys).
   */
  memberHolds(tps: readonly TopicPartition[], n: number, p: number): boolean {
    const drivers = this.driversOf(n)
    return tps.some((tp) =>
      drivers.size ? drivers.has(tp.topic) && tp.partition === p : tp.topic === this.leaderTopic,
    )
  }

  /** The subscribed source topics with `n` partitions: they decide who holds a table of n partitions. */
  driversOf(n: number): Set<string> {
    const out = new Set<string>()
    for (const s of this.subscribed)
      if (s !== this.leaderTopic && this.topics.get(s)?.partitions === n) out.add(s)
    return out
  }
}
