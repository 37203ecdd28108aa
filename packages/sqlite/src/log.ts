/**
 * The broker's storage: the schema of the shared broker file and the prepared
 * statements of the hot paths (append a batch, read a partition from an
 * offset, end and beginning offsets, committed group offsets).
 *
 * Records live in one WITHOUT ROWID table keyed by (tp, off), where tp is a
 * small integer naming a (topic, partition); the next offset of each partition
 * is kept in `partitions`, so offsets survive retention and compaction.
 * Every method here runs synchronously; callers own the transactions.
 */
import {
  BrokerError,
  type BrokerRecord,
  type ProduceRecord,
  type RecordMetadata,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicSpec,
} from '@stream-app/core'
import type { Db } from './db.ts'
import { decodeHeaders, encodeHeaders } from './headers.ts'

export interface TopicInfo {
  readonly name: string
  readonly partitions: number
  /** tp id per partition */
  readonly ids: readonly number[]
  readonly retentionMs: number | null
  readonly compacted: boolean
  readonly config: Readonly<Record<string, string>>
}

type RawRecord = [
  off: number,
  timestamp: number,
  key: Buffer | null,
  value: Buffer | null,
  headers: Buffer | null,
]

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY, partitions INTEGER NOT NULL, retention_ms INTEGER,
    compacted INTEGER NOT NULL DEFAULT 0, config TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS partitions (
    id INTEGER PRIMARY KEY, topic TEXT NOT NULL, part INTEGER NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0, cleaned_upto INTEGER NOT NULL DEFAULT 0,
    clean_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (topic, part)
  );
  CREATE TABLE IF NOT EXISTS records (
    tp INTEGER NOT NULL, off INTEGER NOT NULL, timestamp INTEGER NOT NULL,
    key BLOB, value BLOB, headers BLOB,
    PRIMARY KEY (tp, off)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, part)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS consumer_groups (grp TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT NOT NULL, member_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    joined_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL, topics TEXT NOT NULL,
    metadata TEXT NOT NULL, owned TEXT NOT NULL,
    PRIMARY KEY (grp, member_id)
  ) WITHOUT ROWID;
`

export class LogDb {
  private readonly topicCache = new Map<string, TopicInfo>()
  private readonly s

  constructor(
    readonly db: Db,
    readonly file: string,
  ) {
    db.transaction(() => db.exec(SCHEMA)).immediate()
    this.s = {
      topic: db.prepare<
        [string],
        { partitions: number; retention_ms: number | null; compacted: number; config: string }
      >('SELECT partitions, retention_ms, compacted, config FROM topics WHERE name = ?'),
      tpIds: db.prepare<[string], number>('SELECT id FROM partitions WHERE topic = ? ORDER BY part').pluck(),
      insertTopic: db.prepare<[string, number, number | null, number, string, number]>(
        'INSERT INTO topics (name, partitions, retention_ms, compacted, config, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      insertPartition: db.prepare<[string, number]>('INSERT INTO partitions (topic, part) VALUES (?, ?)'),
      nextOffset: db.prepare<[number], number>('SELECT next_offset FROM partitions WHERE id = ?').pluck(),
      setNextOffset: db.prepare<[number, number]>('UPDATE partitions SET next_offset = ? WHERE id = ?'),
      insert: db.prepare<[number, number, number, Uint8Array | null, Uint8Array | null, Buffer | null]>(
        'INSERT INTO records (tp, off, timestamp, key, value, headers) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      read: db
        .prepare<[number, number, number], RawRecord>(
          'SELECT off, timestamp, key, value, headers FROM records WHERE tp = ? AND off >= ? ORDER BY off LIMIT ?',
        )
        .raw(),
      first: db
        .prepare<[number], number>('SELECT off FROM records WHERE tp = ? ORDER BY off LIMIT 1')
        .pluck(),
      commitOffset: db.prepare<[string, string, number, number]>(
        `INSERT INTO group_offsets (grp, topic, part, next_offset) VALUES (?, ?, ?, ?)
         ON CONFLICT (grp, topic, part) DO UPDATE SET next_offset = excluded.next_offset`,
      ),
      committed: db
        .prepare<[string, string, number], number>(
          'SELECT next_offset FROM group_offsets WHERE grp = ? AND topic = ? AND part = ?',
        )
        .pluck(),
    }
  }

  /** A topic's metadata, from the cache or the file (another process may have created it). */
  topic(name: string): TopicInfo | undefined {
    const cached = this.topicCache.get(name)
    if (cached) return cached
    const row = this.s.topic.get(name)
    if (!row) return undefined
    const ids = this.s.tpIds.all(name)
    if (ids.length !== row.partitions) return undefined
    const info: TopicInfo = {
      name,
      partitions: row.partitions,
      ids,
      retentionMs: row.retention_ms,
      compacted: row.compacted === 1,
      config: JSON.parse(row.config) as Record<string, string>,
    }
    this.topicCache.set(name, info)
    return info
  }

  /** A topic was deleted: its cached metadata goes. */
  forgetTopic(name: string): void {
    this.topicCache.delete(name)
  }

  allTopics(): TopicInfo[] {
    const names = this.db.prepare<[], string>('SELECT name FROM topics ORDER BY name').pluck().all()
    return names.map((n) => this.topic(n)).filter((t): t is TopicInfo => t !== undefined)
  }

  /** Call inside an immediate transaction. */
  ensureTopic(spec: TopicSpec): void {
    const existing = this.topic(spec.name)
    if (existing) {
      if (existing.partitions !== spec.partitions)
        throw new BrokerError(
          `topic '${spec.name}' exists in ${this.file} with ${existing.partitions} partitions, but ${spec.partitions} are declared`,
          false,
        )
      return
    }
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1)
      throw new BrokerError(`topic '${spec.name}': partitions must be a positive integer`, false)
    this.s.insertTopic.run(
      spec.name,
      spec.partitions,
      spec.retentionMs ?? null,
      spec.compacted ? 1 : 0,
      JSON.stringify(spec.config ?? {}),
      Date.now(),
    )
    for (let p = 0; p < spec.partitions; p++) this.s.insertPartition.run(spec.name, p)
  }

  tpId(topic: string, partition: number): number {
    const t = this.topic(topic)
    if (!t) throw new BrokerError(`unknown topic '${topic}' in ${this.file}`, false)
    const id = t.ids[partition]
    if (id === undefined)
      throw new BrokerError(`topic '${topic}' has no partition ${partition} (it has ${t.partitions})`, false)
    return id
  }

  /** Appends a batch; call inside an immediate transaction (the next offsets are read under the write lock). */
  append(records: readonly ProduceRecord[]): RecordMetadata[] {
    const out: RecordMetadata[] = new Array(records.length)
    // Next offset per partition of each topic written, read from the file on first use.
    const touched = new Map<string, { info: TopicInfo; next: number[] }>()
    let topic: string | undefined
    let cur: { info: TopicInfo; next: number[] } | undefined
    const { insert, nextOffset } = this.s
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      if (r.topic !== topic || cur === undefined) {
        topic = r.topic
        cur = touched.get(topic)
        if (cur === undefined) {
          const info = this.topic(topic)
          if (!info) throw new BrokerError(`unknown topic '${topic}' in ${this.file}`, false)
          touched.set(topic, (cur = { info, next: new Array<number>(info.partitions).fill(-1) }))
        }
      }
      const p = r.partition
      const id = cur.info.ids[p]
      if (id === undefined)
        throw new BrokerError(`topic '${topic}' has no partition ${p} (it has ${cur.info.partitions})`, false)
      let offset = cur.next[p]!
      if (offset < 0) offset = nextOffset.get(id) ?? 0
      insert.run(
        id,
        offset,
        r.timestamp,
        r.key,
        r.value,
        r.headers === undefined ? null : encodeHeaders(r.headers),
      )
      cur.next[p] = offset + 1
      out[i] = { topic, partition: p, offset, timestamp: r.timestamp }
    }
    for (const { info, next } of touched.values())
      for (let p = 0; p < next.length; p++)
        if (next[p]! >= 0) this.s.setNextOffset.run(next[p]!, info.ids[p]!)
    return out
  }

  /** Up to `limit` records of one partition from `from` on, oldest first. */
  read(topic: string, partition: number, from: number, limit: number): BrokerRecord[] {
    const rows = this.s.read.all(this.tpId(topic, partition), from, limit)
    const out: BrokerRecord[] = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const [offset, timestamp, key, value, headers] = rows[i]!
      out[i] = { topic, partition, offset, timestamp, key, value, headers: decodeHeaders(headers) }
    }
    return out
  }

  /**
   * Reads like `read` and also says where the next read starts: past the last
   * record returned, and past any deleted tail when the partition was read to
   * its end (offsets are never reused, so nothing can appear in that gap).
   * Call inside one read transaction so both come from the same snapshot.
   */
  readNext(
    topic: string,
    partition: number,
    from: number,
    limit: number,
  ): { records: BrokerRecord[]; next: number } {
    const records = this.read(topic, partition, from, limit)
    const after = records.length ? records[records.length - 1]!.offset + 1 : from
    if (records.length === limit) return { records, next: after }
    return { records, next: Math.max(after, this.endOffset(topic, partition)) }
  }

  endOffset(topic: string, partition: number): number {
    return this.s.nextOffset.get(this.tpId(topic, partition)) ?? 0
  }

  beginningOffset(topic: string, partition: number): number {
    const id = this.tpId(topic, partition)
    return this.s.first.get(id) ?? this.s.nextOffset.get(id) ?? 0
  }

  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void {
    for (const o of offsets) this.s.commitOffset.run(groupId, o.topic, o.partition, o.offset)
  }

  committed(groupId: string, tps: readonly TopicPartition[]): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = []
    for (const tp of tps) {
      const o = this.s.committed.get(groupId, tp.topic, tp.partition)
      if (o !== undefined) out.push({ topic: tp.topic, partition: tp.partition, offset: o })
    }
    return out
  }
}
