/**
 * Reading a topic from outside the app's processing: `stream-app tail` and the
 * worker's GET /topics/:topic/records share this. It reads with the broker's
 * partition reader (no group, so the app's own group never sees it) or, when
 * asked, as a member of another group that commits what was read. Records come
 * back decoded as JSON-ready objects: raw bytes as base64, a dead-letter
 * topic's records decoded with its source topic's schema where they still
 * decode, headers as text (the dead-letter reason among them).
 */
import type { AppDefinition } from '../definition/definition.ts'
import { ConfigError } from '../definition/errors.ts'
import type {
  Broker,
  BrokerRecord,
  GroupConsumer,
  PartitionReader,
  TopicPartition,
  TopicPartitionOffset,
} from '../ports/index.ts'
import type { RecordJson, RecordQuery, RecordsFrom } from '../ports/view.ts'
import { decodeRecord } from './inspect.ts'
import { TopicRuntime } from './internal/topics.ts'
import { internalTopicNames } from './internal-topics.ts'

const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/

/** `earliest`, `latest`, an offset or an ISO time; a ConfigError (one line) for anything else. */
export function parseFrom(text: string): RecordsFrom {
  const t = text.trim()
  if (t === 'earliest' || t === 'latest') return { kind: t }
  if (/^\d+$/.test(t)) return { kind: 'offset', offset: Number(t) }
  const ms = ISO.test(t) ? Date.parse(t) : Number.NaN
  if (!Number.isNaN(ms)) return { kind: 'time', ms }
  throw new ConfigError(
    `bad --from '${text}': expected earliest, latest, an offset (e.g. 42) or an ISO time (e.g. 2026-01-31T12:00:00Z)`,
  )
}

/** Any bytes in a decoded key or value, as base64 text (JSON has no bytes). */
const jsonReady = (v: unknown): unknown => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)

/** The serdes a topic's records decode with: its own, or for a dead-letter topic its source's. */
function decoderFor(
  def: AppDefinition,
  topic: string,
  partitions: number,
  known?: ReadonlyMap<string, TopicRuntime>,
) {
  const name = topic.endsWith('.dead-letter') ? topic.slice(0, -'.dead-letter'.length) : topic
  const own = known?.get(name)
  if (own) return own
  const d = def.topics[name]
  return d ? new TopicRuntime(d, partitions) : undefined
}

/** Checks the query against the broker: the topic exists, the partition is one of its. */
async function partitionsOf(broker: Broker, def: AppDefinition, q: RecordQuery): Promise<TopicPartition[]> {
  const count = await broker.partitions(q.topic)
  if (count === undefined) {
    const declared = [...Object.keys(def.topics), ...internalTopicNames(def)].includes(q.topic)
    throw new ConfigError(
      declared
        ? `topic '${q.topic}' does not exist on ${broker.url} yet (no worker of '${def.config.id}' has created it)`
        : `unknown topic '${q.topic}' (the app's topics: ${Object.keys(def.topics).join(', ') || 'none'})`,
    )
  }
  if (q.partition !== undefined) {
    if (!Number.isInteger(q.partition) || q.partition < 0 || q.partition >= count)
      throw new ConfigError(`topic '${q.topic}' has no partition ${q.partition} (it has ${count})`)
    return [{ topic: q.topic, partition: q.partition }]
  }
  return Array.from({ length: count }, (_, partition) => ({ topic: q.topic, partition }))
}

type Source = Pick<PartitionReader, 'fetch' | 'seek' | 'wakeup' | 'position' | 'close'>

/**
 * Reads one topic from where the query says. `next()` gives the next records;
 * `atEnd` says every partition has been read up to where it ended when the
 * reader opened (a bounded read stops there; `--follow` goes on).
 */
export class TopicReader {
  private readonly positions = new Map<number, number>()
  private readonly ends = new Map<number, number>()
  /** Partitions of a time query still before the time. */
  private readonly beforeTime = new Set<number>()
  private emitted = 0

  private constructor(
    private readonly source: Source,
    private readonly group: GroupConsumer | undefined,
    private readonly query: RecordQuery,
    private readonly decoder: TopicRuntime | undefined,
  ) {}

  static async open(
    broker: Broker,
    def: AppDefinition,
    query: RecordQuery,
    known?: ReadonlyMap<string, TopicRuntime>,
  ): Promise<TopicReader> {
    if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 0))
      throw new ConfigError(`limit must be a whole number ≥ 0, got ${query.limit}`)
    if (query.group !== undefined && query.group === def.config.id)
      throw new ConfigError(
        `group '${query.group}' is the app's own consumer group: reading in it would take records from the app; pick another`,
      )
    const tps = await partitionsOf(broker, def, query)
    const decoder = decoderFor(def, query.topic, tps.length, known)
    const [begins, ends] = await Promise.all([broker.beginningOffsets(tps), broker.endOffsets(tps)])
    const from = query.from
    const start = new Map<number, number>()
    for (const b of begins) {
      const end = ends.find((e) => e.partition === b.partition)!.offset
      const at =
        from?.kind === 'latest'
          ? end
          : from?.kind === 'offset'
            ? Math.min(Math.max(from.offset, b.offset), end)
            : b.offset
      start.set(b.partition, at)
    }
    let source: Source
    let group: GroupConsumer | undefined
    if (query.group !== undefined) {
      group = broker.groupConsumer({
        groupId: query.group,
        topics: [query.topic],
        listener: { onAssign: async () => {}, onRevoke: async () => {} },
        autoOffsetReset: from?.kind === 'latest' ? 'latest' : 'earliest',
      })
      await group.start()
      const assigned = group.assignment()
      const mine = assigned.filter((tp) => tp.topic === query.topic && start.has(tp.partition))
      const others = assigned.filter((tp) => !mine.includes(tp))
      if (others.length) group.pause(others)
      if (from === undefined) {
        // The group's own place: its committed offsets, where it has them.
        for (const c of await group.committed(mine)) if (c.offset >= 0) start.set(c.partition, c.offset)
      }
      for (const p of [...start.keys()]) if (!mine.some((tp) => tp.partition === p)) start.delete(p)
      source = group
    } else {
      source = broker.reader(
        [...start].map(([partition, offset]) => ({ topic: query.topic, partition, offset })),
      )
    }
    const r = new TopicReader(source, group, query, decoder)
    for (const [partition, offset] of start) {
      r.positions.set(partition, offset)
      r.ends.set(partition, ends.find((e) => e.partition === partition)!.offset)
      if (from?.kind === 'time') r.beforeTime.add(partition)
      source.seek({ topic: query.topic, partition, offset })
    }
    return r
  }

  /** Every partition read up to its end as of opening, or the limit reached. */
  get atEnd(): boolean {
    if (this.limitReached) return true
    for (const [p, end] of this.ends) if ((this.positions.get(p) ?? 0) < end) return false
    return true
  }

  get limitReached(): boolean {
    return this.query.limit !== undefined && this.emitted >= this.query.limit
  }

  /** The next records (possibly none after `maxWaitMs`); `bounded`: none past the ends as of opening. */
  async next(options: { maxWaitMs: number; bounded: boolean }): Promise<RecordJson[]> {
    if (this.limitReached) return []
    const room = this.query.limit === undefined ? 1000 : Math.min(1000, this.query.limit - this.emitted)
    const batches = await this.source.fetch({ maxRecords: room, maxWaitMs: options.maxWaitMs })
    const out: RecordJson[] = []
    for (const b of batches) {
      if (b.topic !== this.query.topic || !this.positions.has(b.partition)) continue
      const end = this.ends.get(b.partition)!
      for (const rec of b.records) {
        if (out.length + this.emitted >= (this.query.limit ?? Number.POSITIVE_INFINITY)) break
        if (rec.offset < this.positions.get(b.partition)!) continue
        if (options.bounded && rec.offset >= end) break
        this.positions.set(b.partition, rec.offset + 1)
        if (this.beforeTime.has(b.partition)) {
          if (rec.timestamp < (this.query.from as { ms: number }).ms) continue
          this.beforeTime.delete(b.partition)
        }
        out.push(this.toJson(rec))
      }
    }
    // A log can end past its last record (transaction markers): the reader's position says so.
    for (const p of this.positions.keys()) {
      const pos = this.source.position?.({ topic: this.query.topic, partition: p })
      if (pos !== undefined && pos > this.positions.get(p)! && !this.limitReached && out.length < room)
        this.positions.set(p, Math.min(pos, options.bounded ? this.ends.get(p)! : pos))
    }
    this.emitted += out.length
    return out
  }

  /** With a group: commits the offsets after what was read. */
  async commit(): Promise<void> {
    if (!this.group) return
    const offsets: TopicPartitionOffset[] = [...this.positions].map(([partition, offset]) => ({
      topic: this.query.topic,
      partition,
      offset,
    }))
    await this.group.commit(offsets)
  }

  wakeup(): void {
    this.source.wakeup()
  }

  close(): Promise<void> {
    return this.source.close()
  }

  private toJson(rec: BrokerRecord): RecordJson {
    const d = decodeRecord(this.decoder, this.query.topic, rec)
    return {
      topic: d.topic,
      partition: d.partition,
      offset: d.offset,
      timestamp: d.timestamp,
      key: jsonReady(d.key),
      value: jsonReady(d.value),
      headers: d.headers,
    }
  }
}

const READ_DEADLINE_MS = 5_000

/**
 * A bounded read (the records endpoint): up to `limit` records from where the
 * query says, stopping at the ends of the partitions as they were when asked.
 */
export async function readRecords(
  broker: Broker,
  def: AppDefinition,
  query: RecordQuery & { readonly limit: number },
  known?: ReadonlyMap<string, TopicRuntime>,
): Promise<RecordJson[]> {
  const reader = await TopicReader.open(broker, def, query, known)
  // A partition whose end the reader cannot reach (a broker that lost records since) must not hold the answer.
  const deadline = Date.now() + READ_DEADLINE_MS
  try {
    const out: RecordJson[] = []
    while (!reader.atEnd && Date.now() < deadline)
      out.push(...(await reader.next({ maxWaitMs: 200, bounded: true })))
    return out
  } finally {
    await reader.close()
  }
}
