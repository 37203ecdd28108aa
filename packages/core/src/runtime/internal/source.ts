/**
 * A source queue: the bounded buffer between the fetch loop and one agent's
 * stream (shared by the agent's instances). It holds fetched batches, decodes a
 * record only when a reader takes it, applies the topic's onInvalid rule, and
 * tracks offsets for at-least-once commits. `full` tells the fetch loop to pause.
 */
import { DecodeError, messageOf } from '../../definition/errors.ts'
import type { BrokerRecord, RecordBatch, TopicPartition } from '../../ports/index.ts'
import { tpKey } from '../../ports/topic-partitions.ts'
import { AckTracker } from './acks.ts'
import { type Item, SourceItem } from './cursor.ts'
import type { TopicRuntime } from './topics.ts'

/** Records decoded one by one after parsing a run of them together failed. */
const SINGLE_AFTER_FAILURE = 64

export class FatalDecodeError extends DecodeError {}

/** Called for a record that failed to decode; returns true if it was dealt with (skip or dead-letter). */
export type InvalidHandler = (
  topic: TopicRuntime,
  rec: BrokerRecord,
  reason: string,
  agent: string,
) => boolean

export class SourceQueue {
  /** Fetched batches from index bi on; the slots before bi are emptied as their batches are consumed. */
  private batches: (RecordBatch | undefined)[] = []
  private bi = 0
  private ri = 0
  size = 0
  /** Records taken by the agent's handler (its "messages consumed"), invalid ones skipped included. */
  consumed = 0
  closed = false
  readonly trackers = new Map<string, AckTracker>()
  private waiters: (() => void)[] = []
  private drainWaiters: (() => void)[] = []
  private curBatch: RecordBatch | undefined
  private curTopic: TopicRuntime | undefined
  private curTracker: AckTracker | undefined
  /** Values of curBatch's records [parsedFrom, parsedFrom + parsed.length) parsed together (Serde.parseMany). */
  private parsed: unknown[] | undefined
  private parsedFrom = 0
  /** Records of curBatch before this index are decoded one by one (parsing them together failed). */
  private singleUntil = 0

  constructor(
    readonly agent: string,
    readonly topics: ReadonlyMap<string, TopicRuntime>,
    readonly capacity: number,
    private readonly onInvalid: InvalidHandler,
  ) {}

  get full(): boolean {
    return this.size >= this.capacity
  }

  tracker(topic: string, partition: number): AckTracker {
    const k = tpKey(topic, partition)
    let t = this.trackers.get(k)
    if (!t) this.trackers.set(k, (t = new AckTracker(topic, partition)))
    return t
  }

  push(batch: RecordBatch): void {
    if (this.closed || batch.records.length === 0) return
    this.batches.push(batch)
    this.size += batch.records.length
    if (this.waiters.length) {
      const w = this.waiters
      this.waiters = []
      for (const f of w) f()
    }
  }

  /** The next decoded record, or undefined if none is buffered. Throws FatalDecodeError under onInvalid 'fail'. */
  take(): Item | undefined {
    for (;;) {
      const batch = this.batches[this.bi]
      if (batch === undefined) return undefined
      if (this.ri === 0 || this.curBatch !== batch) {
        // Per batch, not per record: the topic and the offset tracker of its partition.
        this.curBatch = batch
        this.curTopic = this.topics.get(batch.topic)!
        this.curTracker = this.tracker(batch.topic, batch.partition)
        this.parsed = undefined
        this.singleUntil = 0
      }
      const index = this.ri
      const rec = batch.records[this.ri++]
      if (this.ri >= batch.records.length) {
        // Let go of a consumed batch at once: kept until the array was compacted, the last 64
        // batches (~100k records of a busy topic) stayed reachable and filled the old generation.
        this.batches[this.bi] = undefined
        this.bi++
        this.ri = 0
        if (this.bi > 64) {
          this.batches = this.batches.slice(this.bi)
          this.bi = 0
        }
      }
      if (rec === undefined) continue
      this.size--
      if (this.drainWaiters.length && this.size < this.capacity / 2) {
        const w = this.drainWaiters
        this.drainWaiters = []
        for (const f of w) f()
      }
      const topic = this.curTopic!
      const tracker = this.curTracker!
      tracker.deliver(rec.offset)
      this.consumed++
      const lazyKey = rec.key !== null && topic.lazyKeys
      let key: unknown = null
      let value: unknown
      try {
        if (rec.key !== null && !lazyKey) key = topic.keySerde.decode(rec.key)
        value = this.decodeValue(topic, batch, index)
      } catch (e) {
        const reason = messageOf(e)
        if (this.onInvalid(topic, rec, reason, this.agent)) {
          tracker.ack(rec.offset)
          continue
        }
        throw new FatalDecodeError(rec.topic, rec.partition, rec.offset, reason)
      }
      return new SourceItem(rec, key, value, tracker, lazyKey ? topic.keySerde.decode : undefined)
    }
  }

  /** The value of `batch.records[index]`, parsed together with the records after it where the codec can. */
  private decodeValue(topic: TopicRuntime, batch: RecordBatch, index: number): unknown {
    const serde = topic.valueSerde
    let parsed = this.parsed
    if (parsed === undefined || index - this.parsedFrom >= parsed.length) {
      this.parsed = undefined
      if (serde.parseMany === undefined || index < this.singleUntil)
        return serde.decode(batch.records[index]!.value)
      parsed = serde.parseMany(batch.records, index, batch.records.length)
      if (parsed === undefined) {
        // Something here must be read alone (a malformed or null payload): do so for a while.
        this.singleUntil = index + SINGLE_AFTER_FAILURE
        return serde.decode(batch.records[index]!.value)
      }
      this.parsed = parsed
      this.parsedFrom = index
    }
    return serde.decodeParsed(parsed[index - this.parsedFrom])
  }

  /** Resolves when data arrives or the queue closes. */
  wait(): Promise<void> {
    if (this.closed || this.size > 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Resolves when the buffer drops below half its capacity. */
  drained(): Promise<void> {
    if (!this.full || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  /** Forgets buffered records and offsets of partitions that moved away. */
  drop(partitions: readonly TopicPartition[]): void {
    const gone = this.dropBuffered(partitions)
    for (const k of gone) this.trackers.delete(k)
  }

  /** Forgets buffered records of partitions (not their offsets: what was processed is still committed). */
  dropBuffered(partitions: readonly TopicPartition[]): Set<string> {
    const gone = new Set(partitions.map((tp) => tpKey(tp.topic, tp.partition)))
    const kept: RecordBatch[] = []
    let size = 0
    for (let i = this.bi; i < this.batches.length; i++) {
      const b = this.batches[i]!
      if (gone.has(tpKey(b.topic, b.partition))) continue
      const records = i === this.bi ? b.records.slice(this.ri) : b.records
      kept.push(i === this.bi ? { ...b, records } : b)
      size += records.length
    }
    this.batches = kept
    this.curBatch = undefined
    this.parsed = undefined
    this.bi = 0
    this.ri = 0
    this.size = size
    // The fetch loop may wait for this queue to drain (every topic paused): it just did.
    if (this.drainWaiters.length && size < this.capacity / 2) {
      const w = this.drainWaiters
      this.drainWaiters = []
      for (const f of w) f()
    }
    return gone
  }

  /** Wakes waiting readers without data (an instance is being aborted). */
  wakeAll(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  close(): void {
    this.closed = true
    for (const f of this.waiters) f()
    for (const f of this.drainWaiters) f()
    this.waiters = []
    this.drainWaiters = []
  }
}
