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
  GroupConsumer,
  GroupConsumerOptions,
  PartitionReader,
  ProduceRecord,
  Producer,
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from '../../ports/index.ts'
import { NO_HEADERS } from '../../ports/index.ts'
import { tpKey } from '../../ports/topic-partitions.ts'
import { ColdLog } from './cold.ts'
import { MemConsumer, MemGroup, type MemLogs, MemReader, Signal } from './group.ts'

interface MemTopic {
  readonly spec: TopicSpec
  readonly logs: BrokerRecord[][]
  /** Per partition: records kept as bytes ahead of `logs` (see ColdLog). */
  readonly cold: (ColdLog | undefined)[]
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

export class MemoryBroker implements Broker, MemLogs {
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
