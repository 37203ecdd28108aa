/**
 * Records of the memory:// broker kept as bytes: a topic no consumer group in
 * the process reads (a sink a test inspects, say) holds its records in
 * chunks of one buffer plus typed arrays instead of one object per record.
 */
import type { BrokerRecord, Headers, ProduceRecord } from '../../ports/index.ts'
import { NO_HEADERS } from '../../ports/index.ts'

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
export class ColdLog {
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
