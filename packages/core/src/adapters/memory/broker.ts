/**
 * The in-process `memory://` broker: partitioned logs in arrays, consumer groups
 * with co-partitioned assignment, committed offsets. Gone when the process
 * exits. It implements the same Broker port as sqlite:// and kafka://.
 *
 * So that a long-running memory:// worker does not grow without bound, a log
 * forgets records that every consumer group of its topic has committed past
 * (and no open reader still needs), and a compacted topic (table changelogs)
 * keeps only the latest record per key once it has grown. A topic no group in
 * the process consumes keeps everything: while groups run, as bytes rather
 * than record objects (see ColdLog). Offsets may have gaps, as on Kafka.
 */
import { BrokerError, ConfigError } from '../../definition/errors.ts'
import type {
  Broker,
  BrokerRecord,
  FetchOptions,
  GroupConsumer,
  GroupConsumerOptions,
  GroupMember,
  Headers,
  PartitionReader,
  ProduceRecord,
  Producer,
  RecordBatch,
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from '../../ports/index.ts'
import { NO_HEADERS } from '../../ports/index.ts'
import { tpKey } from '../../ports/topic-partitions.ts'

interface MemTopic {
  readonly spec: TopicSpec
  readonly logs: BrokerRecord[][]
  /** Per partition: records kept as bytes ahead of `logs` (see ColdLog). */
  readonly cold: (ColdLog | undefined)[]
}

/** Records a cold chunk holds at most; a partition's first chunks are smaller (most sinks of a test see few records). */
const COLD_CHUNK_RECORDS = 4096
const COLD_FIRST_RECORDS = 64
/** Bytes per record a cold chunk starts with (a larger record gets a chunk of its size). */
const COLD_BYTES_PER_RECORD = 128

/** A run of records kept as bytes: keys and values in one buffer, the rest in typed arrays. */
class ColdChunk {
  count = 0
  private used = 0
  private readonly bytes: Buffer
  private readonly at: Int32Array
  /** Key and value lengths; -1 for null. */
  private readonly len: Int32Array
  private readonly ts: Float64Array
  private headers: Map<number, Headers> | undefined

  constructor(
    readonly first: number,
    private readonly capacity: number,
    size: number,
  ) {
    this.bytes = Buffer.allocUnsafe(Math.max(capacity * COLD_BYTES_PER_RECORD, size))
    this.at = new Int32Array(capacity * 2)
    this.len = new Int32Array(capacity * 2)
    this.ts = new Float64Array(capacity)
  }

  /** Copies a record in, or returns false when it does not fit. */
  add(r: ProduceRecord): boolean {
    const need = (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0)
    if (this.count === this.capacity || this.used + need > this.bytes.length) return false
    const i = this.count++
    this.put(2 * i, r.key)
    this.put(2 * i + 1, r.value)
    this.ts[i] = r.timestamp
    if (r.headers !== undefined && r.headers !== NO_HEADERS) (this.headers ??= new Map()).set(i, r.headers)
    return true
  }

  private put(slot: number, b: Uint8Array | null): void {
    if (b === null) {
      this.len[slot] = -1
      return
    }
    this.bytes.set(b, this.used)
    this.at[slot] = this.used
    this.len[slot] = b.byteLength
    this.used += b.byteLength
  }

  private view(slot: number): Uint8Array | null {
    const n = this.len[slot]!
    return n < 0 ? null : this.bytes.subarray(this.at[slot]!, this.at[slot]! + n)
  }

  record(topic: string, partition: number, i: number): BrokerRecord {
    return {
      topic,
      partition,
      offset: this.first + i,
      timestamp: this.ts[i]!,
      key: this.view(2 * i),
      value: this.view(2 * i + 1),
      headers: this.headers?.get(i) ?? NO_HEADERS,
    }
  }
}

/**
 * The head of a partition kept as bytes instead of record objects: what a
 * running worker writes to a topic none of its consumer groups reads (a sink
 * nobody consumes). A million such records as objects cost the garbage
 * collector a copy each and a place in every full collection; as bytes they
 * cost neither. Offsets are contiguous; reads build records again.
 */
class ColdLog {
  private readonly chunks: ColdChunk[] = []
  /** The next offset. */
  end: number

  constructor(
    readonly topic: string,
    readonly partition: number,
    start: number,
  ) {
    this.end = start
  }

  get first(): number {
    return this.chunks.length ? this.chunks[0]!.first : this.end
  }

  /** Adds a record at `offset` (at or after `end`; after a gap it starts a new chunk). */
  add(r: ProduceRecord, offset: number): void {
    this.end = offset + 1
    const last = this.chunks[this.chunks.length - 1]
    if (last === undefined || last.first + last.count !== offset || !last.add(r)) {
      const capacity = Math.min(COLD_CHUNK_RECORDS, COLD_FIRST_RECORDS * 2 ** this.chunks.length)
      const chunk = new ColdChunk(offset, capacity, (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0))
      chunk.add(r)
      this.chunks.push(chunk)
    }
  }

  read(from: number, max: number): BrokerRecord[] {
    const out: BrokerRecord[] = []
    for (const c of this.chunks) {
      if (out.length >= max) break
      if (from >= c.first + c.count) continue
      for (let i = Math.max(0, from - c.first); i < c.count && out.length < max; i++)
        out.push(c.record(this.topic, this.partition, i))
    }
    return out
  }

  /** Forgets the chunks that lie wholly before `offset`. */
  trim(offset: number): void {
    let n = 0
    while (n < this.chunks.length - 1 && this.chunks[n]!.first + this.chunks[n]!.count <= offset) n++
    if (n) this.chunks.splice(0, n)
  }
}

/** Records a log drops at least at once (dropping is a copy of the rest). */
const TRIM_MIN = 4096
/** A compacted partition is compacted once it holds this many more records than after the last time. */
const COMPACT_SLACK = 10_000

/** The index of the first record at or after `offset` (offsets rise, with gaps after compaction). */
function firstAtOrAfter(log: readonly BrokerRecord[], offset: number): number {
  let lo = 0
  let hi = log.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (log[mid]!.offset < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Resolves waiters when new records arrive. */
class Signal {
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

class MemGroup {
  readonly members: MemConsumer[] = []
  readonly committed = new Map<string, number>()
  private rebalancing: Promise<void> = Promise.resolve()

  constructor(readonly id: string) {}

  /** Serialised: revoke everything that moves on every member, then assign. */
  rebalance(broker: MemoryBroker): Promise<void> {
    this.rebalancing = this.rebalancing.then(() => this.doRebalance(broker))
    return this.rebalancing
  }

  private async doRebalance(broker: MemoryBroker): Promise<void> {
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

class MemConsumer implements GroupConsumer {
  topics: Set<string>
  assigned: TopicPartition[] = []
  closed = false
  private positions = new Map<string, number>()
  private paused = new Set<string>()
  private wake: (() => void) | undefined
  readonly memberId: string

  constructor(
    private readonly broker: MemoryBroker,
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
  assignment(): readonly TopicPartition[] {
    return this.assigned
  }
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.closed) throw new BrokerError('commit on a closed consumer', false)
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
    if (this.group.members.length) await this.group.rebalance(this.broker)
  }
}

class MemReader implements PartitionReader {
  readonly positions = new Map<string, TopicPartitionOffset>()
  private wake: (() => void) | undefined
  private closed = false
  constructor(
    private readonly broker: MemoryBroker,
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
  wakeup(): void {
    this.wake?.()
  }
  async close(): Promise<void> {
    this.closed = true
    this.broker.readers.delete(this)
    this.wakeup()
  }
}

export class MemoryBroker implements Broker {
  readonly url: string
  readonly description = 'in-process memory (gone on exit)'
  readonly shared = false
  readonly signal = new Signal()
  private readonly topics = new Map<string, MemTopic>()
  private readonly bases = new Map<string, number>()
  private readonly groups = new Map<string, MemGroup>()
  readonly readers = new Set<MemReader>()
  /** Per compacted partition: its length after the last compaction. */
  private readonly compactedAt = new Map<string, number>()
  /** Every record of a topic in the order it was appended (for `sent()`). */
  private readonly appended = new Map<string, BrokerRecord[]>()
  private closed = false

  /** Keep every record in sending order too (`sent()` of app.test() reads it). */
  private readonly recordSends: boolean

  constructor(url = 'memory://', options: { recordSends?: boolean } = {}) {
    this.url = url
    this.recordSends = options.recordSends ?? false
  }

  topic(name: string): MemTopic | undefined {
    return this.topics.get(name)
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    for (const spec of specs) {
      const existing = this.topics.get(spec.name)
      if (existing) {
        if (existing.logs.length !== spec.partitions)
          throw new BrokerError(
            `topic '${spec.name}' exists with ${existing.logs.length} partitions, but ${spec.partitions} are declared`,
            false,
          )
        continue
      }
      this.topics.set(spec.name, {
        spec,
        logs: Array.from({ length: spec.partitions }, () => []),
        cold: new Array(spec.partitions).fill(undefined),
      })
    }
  }

  async partitions(topic: string): Promise<number | undefined> {
    return this.topics.get(topic)?.logs.length
  }

  baseOffset(topic: string, partition: number): number {
    return this.bases.get(tpKey(topic, partition)) ?? 0
  }

  endOffset(topic: string, partition: number): number {
    const t = this.topics.get(topic)
    const log = t?.logs[partition]
    if (!log) return 0
    if (log.length) return log[log.length - 1]!.offset + 1
    return Math.max(t!.cold[partition]?.end ?? 0, this.baseOffset(topic, partition))
  }

  /** The first offset still present. */
  startOffset(topic: string, partition: number): number {
    const t = this.topics.get(topic)
    const cold = t?.cold[partition]
    if (cold !== undefined && cold.first < cold.end) return cold.first
    const log = t?.logs[partition]
    return log?.length ? log[0]!.offset : this.endOffset(topic, partition)
  }

  read(topic: string, partition: number, from: number, max: number): BrokerRecord[] {
    const t = this.topics.get(topic)
    const log = t?.logs[partition]
    if (!log) return []
    const cold = t!.cold[partition]
    if (cold !== undefined && from < cold.end) {
      // The hot log starts where the cold part ends.
      const out = cold.read(from, max)
      for (let i = 0; i < log.length && out.length < max; i++) out.push(log[i]!)
      return out
    }
    if (log.length === 0) return []
    const start = firstAtOrAfter(log, from)
    return start >= log.length ? [] : log.slice(start, start + max)
  }

  /**
   * Drops the head of a partition that every group consuming its topic has
   * committed past and no open reader still needs. A topic without consumers keeps everything.
   */
  trim(topic: string, partition: number): void {
    const t = this.topics.get(topic)
    const log = t?.logs[partition]
    const cold = t?.cold[partition]
    if (!log || (log.length < TRIM_MIN && cold === undefined)) return
    const k = tpKey(topic, partition)
    let upTo = Number.POSITIVE_INFINITY
    let consumed = false
    for (const g of this.groups.values()) {
      const committed = g.committed.get(k)
      if (committed === undefined) {
        // A consumer that has not committed yet may read from the start.
        if (g.members.some((m) => !m.closed && m.topics.has(topic))) return
        continue
      }
      consumed = true
      upTo = Math.min(upTo, committed)
    }
    if (!consumed) return
    for (const r of this.readers) {
      const p = r.positions.get(k)
      if (p) upTo = Math.min(upTo, p.offset)
    }
    cold?.trim(upTo)
    if (log.length < TRIM_MIN) return
    const n = firstAtOrAfter(log, upTo)
    if (n < TRIM_MIN && n < log.length) return
    if (n === log.length) {
      const next = log[n - 1]!.offset + 1
      this.bases.set(k, next)
      // Records kept as bytes later continue from here.
      if (cold !== undefined) cold.end = Math.max(cold.end, next)
    }
    log.splice(0, n)
  }

  /** Keeps the latest record per key of a compacted partition (offsets keep their gaps). */
  private compact(topic: string, partition: number, log: BrokerRecord[]): void {
    const k = tpKey(topic, partition)
    if (log.length < (this.compactedAt.get(k) ?? 0) + COMPACT_SLACK) return
    const latest = new Set<string>()
    const kept: BrokerRecord[] = []
    for (let i = log.length - 1; i >= 0; i--) {
      const r = log[i]!
      if (r.key === null) continue
      const key = Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString('latin1')
      if (latest.has(key)) continue
      latest.add(key)
      kept.push(r)
    }
    kept.reverse()
    // The last record always survives (it is the latest of its key), so the end offset stands.
    log.length = 0
    for (const r of kept) log.push(r)
    this.compactedAt.set(k, log.length)
  }

  async endOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return tps.map((tp) => ({ ...tp, offset: this.endOffset(tp.topic, tp.partition) }))
  }

  async beginningOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return tps.map((tp) => ({ ...tp, offset: this.startOffset(tp.topic, tp.partition) }))
  }

  /** Appends synchronously; the Producer port wraps it. */
  append(records: readonly ProduceRecord[]): RecordMetadata[] {
    if (this.closed) throw new BrokerError('broker is closed', false)
    const out: RecordMetadata[] = new Array(records.length)
    let compact: Map<string, [string, number]> | undefined
    let t: MemTopic | undefined
    let cold = false
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      // A batch is mostly one topic: look it up when it changes.
      if (t === undefined || t.spec.name !== r.topic) {
        t = this.topics.get(r.topic)
        if (!t) throw new BrokerError(`unknown topic '${r.topic}'`, false)
        cold = this.keepsCold(t)
      }
      const log = t.logs[r.partition]
      if (!log) throw new BrokerError(`topic '${r.topic}' has no partition ${r.partition}`, false)
      // The broker takes the record over (callers never reuse what they send): it is returned as
      // its own metadata, so a send allocates nothing per record.
      const rec = r as { -readonly [K in keyof BrokerRecord]: BrokerRecord[K] }
      if (rec.headers === undefined) rec.headers = NO_HEADERS
      if (cold && log.length === 0) {
        // The log has no record objects: the cold part is its whole head, kept as bytes.
        let c = t.cold[r.partition]
        const next = c !== undefined ? c.end : this.endOffset(r.topic, r.partition)
        c ??= t.cold[r.partition] = new ColdLog(r.topic, r.partition, next)
        c.add(rec, next)
        rec.offset = next
        out[i] = rec
        continue
      }
      rec.offset = log.length ? log[log.length - 1]!.offset + 1 : this.endOffset(r.topic, r.partition)
      log.push(rec)
      if (t.spec.compacted && log.length >= COMPACT_SLACK)
        (compact ??= new Map()).set(tpKey(r.topic, r.partition), [r.topic, r.partition])
      if (this.recordSends) {
        let all = this.appended.get(r.topic)
        if (!all) this.appended.set(r.topic, (all = []))
        all.push(rec)
      }
      out[i] = rec
    }
    if (compact)
      for (const [topic, p] of compact.values()) this.compact(topic, p, this.topics.get(topic)!.logs[p]!)
    if (records.length) this.signal.notify()
    return out
  }

  /**
   * Whether records of a topic are kept as bytes: while consumer groups run on
   * this broker and none of them reads the topic (not for compacted topics,
   * which compaction keeps small, nor when every send is recorded for `sent()`).
   * Records written before any group starts stay objects: they are read soon.
   */
  private keepsCold(t: MemTopic): boolean {
    if (t.spec.compacted || this.recordSends || this.groups.size === 0) return false
    let live = false
    for (const g of this.groups.values())
      for (const m of g.members) {
        if (m.closed) continue
        live = true
        if (m.topics.has(t.spec.name)) return false
      }
    return live
  }

  /** All records sent to a topic, in the order they were sent. */
  sentTo(topic: string): BrokerRecord[] {
    if (!this.recordSends)
      throw new ConfigError(
        'this memory broker does not record sends (new MemoryBroker(url, { recordSends: true }))',
      )
    return [...(this.appended.get(topic) ?? [])]
  }

  producer(): Producer {
    return {
      send: async (records) => this.append(records),
      close: async () => {},
    }
  }

  groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    let group = this.groups.get(options.groupId)
    if (!group) {
      group = new MemGroup(options.groupId)
      this.groups.set(options.groupId, group)
    }
    return new MemConsumer(this, options, group)
  }

  reader(assignments: readonly TopicPartitionOffset[]): PartitionReader {
    return new MemReader(this, assignments)
  }

  async close(): Promise<void> {
    this.closed = true
    this.signal.notify()
  }
}
