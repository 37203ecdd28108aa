/**
 * Consumer groups and partition readers of the memory:// broker: members get
 * partitions round-robin per topic (co-partitioned topics land together),
 * rebalances are serialised (revoke everywhere, then assign), and a fetch
 * waits on the broker's signal for new records.
 */
import { BrokerError } from '../../definition/errors.ts'
import type {
  BrokerRecord,
  FetchOptions,
  GroupConsumer,
  GroupConsumerOptions,
  GroupMember,
  PartitionReader,
  RecordBatch,
  TopicPartition,
  TopicPartitionOffset,
} from '../../ports/index.ts'
import { tpKey } from '../../ports/topic-partitions.ts'

/** What groups and readers need of the broker's logs. */
export interface MemLogs {
  readonly signal: Signal
  readonly readers: Set<MemReader>
  topic(name: string): { readonly logs: readonly unknown[] } | undefined
  read(topic: string, partition: number, from: number, max: number): BrokerRecord[]
  startOffset(topic: string, partition: number): number
  endOffset(topic: string, partition: number): number
  trim(topic: string, partition: number): void
}

/** Resolves waiters when new records arrive. */
export class Signal {
  private waiters = new Set<() => void>()
  wait(ms: number): { promise: Promise<void>; cancel: () => void } {
    let done!: () => void
    const promise = new Promise<void>((resolve) => {
      done = resolve
    })
    const timer = setTimeout(() => finish(), ms)
    const finish = () => {
      clearTimeout(timer)
      this.waiters.delete(finish)
      done()
    }
    this.waiters.add(finish)
    return { promise, cancel: finish }
  }
  notify(): void {
    for (const w of [...this.waiters]) w()
  }
}

export class MemGroup {
  readonly members: MemConsumer[] = []
  readonly committed = new Map<string, number>()
  private rebalancing: Promise<void> = Promise.resolve()

  constructor(readonly id: string) {}

  /** Serialised: revoke everything that moves on every member, then assign. */
  rebalance(broker: MemLogs): Promise<void> {
    this.rebalancing = this.rebalancing.then(() => this.doRebalance(broker))
    return this.rebalancing
  }

  private async doRebalance(broker: MemLogs): Promise<void> {
    const members = this.members.filter((m) => !m.closed)
    const target = new Map<MemConsumer, TopicPartition[]>(members.map((m) => [m, []]))
    const topics = new Set(members.flatMap((m) => [...m.topics]))
    for (const topic of [...topics].sort()) {
      const t = broker.topic(topic)
      if (!t) continue
      const subscribers = members.filter((m) => m.topics.has(topic))
      for (let p = 0; p < t.logs.length; p++) {
        if (subscribers.length)
          target.get(subscribers[p % subscribers.length]!)!.push({ topic, partition: p })
      }
    }
    const revoked = new Map<MemConsumer, TopicPartition[]>()
    for (const m of members) {
      const next = new Set(target.get(m)!.map((tp) => tpKey(tp.topic, tp.partition)))
      revoked.set(
        m,
        m.assigned.filter((tp) => !next.has(tpKey(tp.topic, tp.partition))),
      )
    }
    await Promise.all(members.map((m) => m.revoke(revoked.get(m)!)))
    await Promise.all(members.map((m) => m.assign(target.get(m)!, this)))
  }
}

export class MemConsumer implements GroupConsumer {
  topics: Set<string>
  assigned: TopicPartition[] = []
  closed = false
  /** Set once close() has run onRevoke: until then the listener may still commit what it holds. */
  private left = false
  private positions = new Map<string, number>()
  private paused = new Set<string>()
  private wake: (() => void) | undefined
  readonly memberId: string

  constructor(
    private readonly broker: MemLogs,
    private readonly options: GroupConsumerOptions,
    private readonly group: MemGroup,
  ) {
    this.topics = new Set(options.topics)
    this.memberId = `${options.groupId}-${Math.random().toString(36).slice(2, 10)}`
  }

  async start(): Promise<void> {
    this.group.members.push(this)
    await this.group.rebalance(this.broker)
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    this.topics = new Set(topics)
    await this.group.rebalance(this.broker)
  }

  async revoke(tps: TopicPartition[]): Promise<void> {
    if (tps.length === 0) return
    await this.options.listener.onRevoke(tps)
    const gone = new Set(tps.map((tp) => tpKey(tp.topic, tp.partition)))
    this.assigned = this.assigned.filter((tp) => !gone.has(tpKey(tp.topic, tp.partition)))
    for (const k of gone) this.positions.delete(k)
  }

  async assign(tps: TopicPartition[], group: MemGroup): Promise<void> {
    const have = new Set(this.assigned.map((tp) => tpKey(tp.topic, tp.partition)))
    const added = tps.filter((tp) => !have.has(tpKey(tp.topic, tp.partition)))
    for (const tp of added) {
      const k = tpKey(tp.topic, tp.partition)
      const committed = group.committed.get(k)
      const start = this.broker.startOffset(tp.topic, tp.partition)
      this.positions.set(
        k,
        committed ??
          (this.options.autoOffsetReset === 'latest' ? this.broker.endOffset(tp.topic, tp.partition) : start),
      )
    }
    this.assigned = [...this.assigned, ...added]
    if (added.length) await this.options.listener.onAssign(added)
  }

  async fetch(options: FetchOptions): Promise<RecordBatch[]> {
    const now = this.collect(options.maxRecords)
    if (now.length || this.closed) return now
    const w = this.broker.signal.wait(options.maxWaitMs)
    this.wake = w.cancel
    await w.promise
    this.wake = undefined
    return this.closed ? [] : this.collect(options.maxRecords)
  }

  private collect(max: number): RecordBatch[] {
    const out: RecordBatch[] = []
    let budget = max
    for (const tp of this.assigned) {
      if (budget <= 0) break
      const k = tpKey(tp.topic, tp.partition)
      if (this.paused.has(k)) continue
      const pos = this.positions.get(k)!
      const records = this.broker.read(tp.topic, tp.partition, pos, budget)
      if (records.length === 0) continue
      this.positions.set(k, records[records.length - 1]!.offset + 1)
      budget -= records.length
      out.push({ topic: tp.topic, partition: tp.partition, records })
    }
    return out
  }

  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.paused.add(tpKey(tp.topic, tp.partition))
  }
  resume(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.paused.delete(tpKey(tp.topic, tp.partition))
    if (tps.length) this.broker.signal.notify()
  }
  seek(tpo: TopicPartitionOffset): void {
    this.positions.set(tpKey(tpo.topic, tpo.partition), tpo.offset)
  }
  position(tp: TopicPartition): number | undefined {
    return this.positions.get(tpKey(tp.topic, tp.partition))
  }
  assignment(): readonly TopicPartition[] {
    return this.assigned
  }
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.left) throw new BrokerError('commit on a closed consumer', false)
    for (const o of offsets) this.group.committed.set(tpKey(o.topic, o.partition), o.offset)
    for (const o of offsets) this.broker.trim(o.topic, o.partition)
  }
  async committed(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    const out: TopicPartitionOffset[] = []
    for (const tp of tps) {
      const o = this.group.committed.get(tpKey(tp.topic, tp.partition))
      if (o !== undefined) out.push({ ...tp, offset: o })
    }
    return out
  }
  async members(): Promise<readonly GroupMember[]> {
    return this.group.members
      .filter((m) => !m.closed)
      .map((m) => ({
        memberId: m.memberId,
        metadata: m.options.memberMetadata ?? '',
        assignment: m.assigned,
      }))
  }
  wakeup(): void {
    this.wake?.()
  }
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.wakeup()
    const i = this.group.members.indexOf(this)
    if (i >= 0) this.group.members.splice(i, 1)
    if (this.assigned.length) {
      await this.options.listener.onRevoke(this.assigned).catch(() => {})
      this.assigned = []
    }
    this.left = true
    if (this.group.members.length) await this.group.rebalance(this.broker)
  }
}

export class MemReader implements PartitionReader {
  readonly positions = new Map<string, TopicPartitionOffset>()
  private wake: (() => void) | undefined
  private closed = false
  constructor(
    private readonly broker: MemLogs,
    assignments: readonly TopicPartitionOffset[],
  ) {
    for (const a of assignments) this.positions.set(tpKey(a.topic, a.partition), a)
    broker.readers.add(this)
  }
  async fetch(options: FetchOptions): Promise<RecordBatch[]> {
    const collect = () => {
      const out: RecordBatch[] = []
      let budget = options.maxRecords
      for (const [k, tpo] of this.positions) {
        if (budget <= 0) break
        const records = this.broker.read(tpo.topic, tpo.partition, tpo.offset, budget)
        if (!records.length) continue
        this.positions.set(k, { ...tpo, offset: records[records.length - 1]!.offset + 1 })
        budget -= records.length
        out.push({ topic: tpo.topic, partition: tpo.partition, records })
      }
      return out
    }
    const now = collect()
    if (now.length || this.closed) return now
    const w = this.broker.signal.wait(options.maxWaitMs)
    this.wake = w.cancel
    await w.promise
    this.wake = undefined
    return this.closed ? [] : collect()
  }
  seek(tpo: TopicPartitionOffset): void {
    this.positions.set(tpKey(tpo.topic, tpo.partition), tpo)
  }
  position(tp: TopicPartition): number | undefined {
    return this.positions.get(tpKey(tp.topic, tp.partition))?.offset
  }
  wakeup(): void {
    this.wake?.()
  }
  async close(): Promise<void> {
    this.closed = true
    this.broker.readers.delete(this)
    this.wakeup()
  }
}
