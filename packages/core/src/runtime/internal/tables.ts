/**
 * The storage and changelog core every table kind shares. Reads and writes hit
 * an in-memory Map; changed rows collect in a dirty set that each commit turns
 * into changelog records (one per store key, the latest value, a tombstone for
 * deletes) and one store transaction. What differs by kind (store keys, a row's
 * stored form, indexes, windows, the agent's view) is the table's `kind`
 * (table-kind.ts), chosen once in table-kinds.ts.
 *
 * A row lives in its key's partition (murmur2 of the key over the table's
 * partitions), the partition queries are routed by. A worker holds the
 * partitions it owns and refuses to touch a key of any other (NotOwnedError):
 * never a silent default for a key another worker holds.
 */
import { schemaCodec } from '../../definition/codec.ts'
import type { TableDef } from '../../definition/definition.ts'
import { messageOf, NotOwnedError } from '../../definition/errors.ts'
import type { Logger, WindowValue } from '../../definition/types.ts'
import type { BrokerRecord, ProduceRecord, StoreChange, TableStore } from '../../ports/index.ts'
import { crc32PartitionForKey, partitionWith } from '../../ports/partitioner.ts'
import type { Timekeeper } from '../time.ts'
import { eachChange } from './changelog.ts'
import type { Cursor } from './cursor.ts'
import type { TableKind } from './table-kind.ts'
import { kindOf, placementOf } from './table-kinds.ts'
import type { Placement } from './table-placement.ts'

export interface Row {
  key: unknown
  value: unknown
  partition: number
  /** window start/end (windowed kinds; 0 otherwise) */
  start: number
  end: number
  /** In the dirty set (so an update of a dirty row costs no second Map lookup). */
  dirty: boolean
  /** A closed window whose final value was emitted (tables with `final`). */
  emitted?: boolean | undefined
}

const TOMBSTONE = Symbol('tombstone')
/** What lookup() answers for a key without a row. */
export const NO_ROW: unique symbol = Symbol('no row')

/** What a table needs from its worker. */
export interface TableHost {
  /** Partition count of a topic (the co-partitioning check, binding a table to its writer's topic). */
  topicPartitions(topic: string): number | undefined
  /** The table was bound to a partition count at run time (its first write). */
  bound(table: TableRuntime): void
  readonly log: Logger
  /** The partition count a table written outside any agent binds to. */
  readonly defaultPartitions: number
  /** Where a closed window's final value goes and what a late event does (the worker's sinks). */
  readonly windows: WindowEvents
}

/** What a table with closing windows hands on: final values, and events that came too late. */
export interface WindowEvents {
  windowClosed(t: TableRuntime, key: unknown, window: WindowValue<unknown>, cursor: Cursor): void
  lateEvent(t: TableRuntime, cursor: Cursor, streamTime: number): void
}

/** A table derived from others (the joined kind, table-join.ts): recomputes a key that changed in a source. */
export interface DerivedTable {
  recompute(key: unknown, partition: number): void
}

export class TableRuntime {
  readonly name: string
  readonly changelog: string
  /** What kind of table this is: everything that differs by kind goes through it. */
  readonly kind: TableKind
  readonly rows = new Map<string, Row>()
  /**
   * The table's partition count: declared, else that of the agents' source topics when they
   * agree, else that of an existing changelog, else undefined until the first write binds it
   * to the writer's topic ("partitioned like the topic its agent consumes").
   */
  partitions: number | undefined
  /** The partitions this worker holds: written only by the Assignment (`settle`), read here. */
  owned: ReadonlySet<number> = new Set()
  /** A CLI command's view: it holds every partition to read, but owns none to write. */
  readOnly = false
  /** Writes of existing rows need a check (read-only, or a global table holding others' rows). */
  guardWrites: boolean
  /** Where the rows are held: the partitions this worker owns, or every partition (global). */
  readonly placement: Placement
  /**
   * Standby copies of partitions other workers own, kept current by tailing
   * their changelogs: rows ready to take over without a recovery from zero.
   * Never read (their owner answers for them).
   */
  readonly standby = new Map<number, Map<string, Row>>()
  /**
   * The changelog offset the standby rows of a partition demoted here reflect
   * (this worker's last commit of it), until it is followed. Not the store's
   * offset when it is read later: a store file shared with the partition's new
   * owner has its writes by then.
   */
  readonly standbyAt = new Map<number, number>()
  /** A write or read outside the event's partition was reported (once per table). */
  warnedCopartition = false
  /** Tables derived from this one (tableJoin): each recomputes a key when it changes here. */
  readonly derivedFrom: DerivedTable[] = []
  /** @internal */
  dirty = new Map<string, Row | typeof TOMBSTONE>()
  private dirtyPartition = new Map<string, number>()
  private readonly stringKeys: boolean
  private readonly encodeKey: (k: unknown) => unknown
  private readonly decodeKey: (k: unknown) => unknown
  private readonly encodeValue: (v: unknown) => unknown
  private readonly decodeValue: (v: unknown) => unknown
  private readonly makeDefault: () => unknown
  /** Rows set or deleted since start, for metrics. */
  writes = 0

  constructor(
    readonly def: TableDef,
    appId: string,
    partitions: number | undefined,
    readonly store: TableStore,
    readonly clock: Timekeeper,
    readonly host: TableHost,
  ) {
    this.partitions = partitions
    this.placement = placementOf(def)
    this.guardWrites = this.placement.global
    this.name = def.name
    this.changelog = `${appId}-${def.name}-changelog`
    this.stringKeys = def.keySchema.ast._tag === 'String'
    const k = schemaCodec(def.keySchema)
    const v = schemaCodec(def.valueSchema)
    this.encodeKey = k.encode
    this.decodeKey = k.decode
    this.encodeValue = v.encode
    this.decodeValue = v.decode
    const d = def.default
    this.makeDefault = d ?? (() => undefined)
    // Last: a kind reads the codecs above as it is built.
    this.kind = kindOf(def, this)
  }

  /** Every worker holds every partition's rows (table-placement.ts). */
  get global(): boolean {
    return this.placement.global
  }

  /** The value of an absent key. */
  makeDefaultValue(): unknown {
    return this.makeDefault()
  }

  // -- keys ------------------------------------------------------------------

  baseKey(key: unknown): string {
    if (this.stringKeys && typeof key === 'string') return key
    try {
      return JSON.stringify(this.encodeKey(key))
    } catch (e) {
      throw new TypeError(`table '${this.name}': invalid key ${String(key)}: ${messageOf(e)}`)
    }
  }

  /** The key a base key stands for. */
  keyOf(base: string): unknown {
    return this.stringKeys ? base : this.decodeKey(JSON.parse(base))
  }

  /**
   * How the producers of the table's source topics key records to partitions (their
   * `partitioner`, when they all agree): key routing follows it. Set by the topology.
   */
  partitioner: 'murmur2' | 'crc32' = 'murmur2'

  /** The partition of a key (the table must be bound). */
  keyPartition(base: string): number {
    return partitionWith(this.partitioner, Buffer.from(base, 'utf8'), this.partitions!)
  }

  /** A CLI command's table: every partition to read, none to write. */
  markReadOnly(): void {
    this.readOnly = true
    this.guardWrites = true
  }

  /** Throws unless this worker may write a row of partition p (checked only when guardWrites). */
  guardWrite(p: number, base: string, cursor: Cursor): void {
    if (this.readOnly) this.locate(base, cursor, true)
    if (!this.owned.has(p)) throw this.notOwned(base, p, cursor)
  }

  /** Fixes the partition count of an unbound table. */
  bind(partitions: number, why: string): void {
    if (this.partitions !== undefined) return
    this.partitions = partitions
    this.host.log.info(`table '${this.name}' has ${partitions} partitions: ${why}`)
    this.host.bound(this)
  }

  /**
   * The partition of a key this worker may touch, or NotOwnedError. A write to
   * an unbound table binds it to the partition count of the event's topic (or,
   * outside an agent, the default); a read of one answers -1: nothing is
   * stored anywhere yet.
   */
  locate(base: string, cursor: Cursor, write: boolean): number {
    if (write && this.readOnly)
      throw new NotOwnedError(
        `table '${this.name}' is read-only here: a CLI command is not a member of the group, the running workers own the table (send a message to an agent instead)`,
        this.name,
        -1,
      )
    if (this.partitions === undefined) {
      if (!write) return -1
      const topic = cursor.current?.rec.topic
      const n = topic === undefined ? undefined : this.host.topicPartitions(topic)
      if (n !== undefined) this.bind(n, `partitioned like '${topic}', the topic of its first writer`)
      else this.bind(this.host.defaultPartitions, 'written outside any agent first (the default count)')
    }
    const cur = cursor.current
    // partitioning 'event': the row lives where the event that writes it came from (always held here).
    if (
      this.def.partitioning === 'event' &&
      cur !== undefined &&
      this.partitions === this.host.topicPartitions(cur.rec.topic)
    ) {
      const row = this.rows.get(base)
      if (row !== undefined && !write) return row.partition
      if (write) return cur.rec.partition
    }
    const p = this.keyPartition(base)
    this.placement.reach(this, base, p, cursor, write)
    return p
  }

  notOwned(base: string, p: number, cursor: Cursor): NotOwnedError {
    const mine = [...this.owned].sort((a, b) => a - b).join(',') || 'none'
    const cur = cursor.current
    const where = cur
      ? this.likelyCrc32(base, cur.rec.partition)
        ? `; the event came from ${cur.rec.topic}[${cur.rec.partition}], the partition librdkafka's CRC32 puts this key in: the producer uses librdkafka's default partitioner (confluent-kafka for Python, Go, .NET): declare the topic with partitioner: 'crc32', or the table with partitioning: 'event'`
        : `; the event came from ${cur.rec.topic}[${cur.rec.partition}]: make the table co-partitioned with the stream (the same key and partition count), e.g. stream.groupBy(v => <table key>, { name }), or, for records other producers put in partitions of their choosing, partitioning: 'event'`
      : '; a route reading it should be declared with { table, key } so the owner answers'
    return new NotOwnedError(
      `table '${this.name}': key ${JSON.stringify(base)} is in partition ${p} of ${this.partitions}, which another worker holds (this one holds ${mine})${where}`,
      this.name,
      p,
    )
  }

  /** The key's CRC32 partition is the event's, where murmur2 put it elsewhere: a librdkafka producer. */
  private likelyCrc32(base: string, eventPartition: number): boolean {
    if (this.partitioner === 'crc32' || this.partitions === undefined) return false
    return crc32PartitionForKey(Buffer.from(base, 'utf8'), this.partitions) === eventPartition
  }

  /** Reports (once) an agent touching a key outside its event's partition: correct only while one worker holds both. */
  checkCopartitioned(p: number, cursor: Cursor): void {
    const cur = cursor.current
    if (cur === undefined || this.warnedCopartition) return
    const n = this.host.topicPartitions(cur.rec.topic)
    if (cur.rec.partition === p && n === this.partitions) return
    this.warnedCopartition = true
    // No topic of that name: the event came through an in-process channel, which has no partitions.
    const from =
      n === undefined
        ? `an event of channel '${cur.rec.topic}' (in-process: not partitioned)`
        : `an event of partition ${cur.rec.partition} (of ${n})`
    this.host.log.warn(
      `table '${this.name}' is not co-partitioned with '${cur.rec.topic}': a key of partition ${p} (of ${this.partitions}) was used by ${from}; this works while one worker holds both, and is refused (NotOwnedError) when they are on different workers. Key the stream like the table, e.g. stream.groupBy(v => <table key>, { name })`,
    )
  }

  // -- rows ------------------------------------------------------------------

  /** The value of a key's row (one per key: plain and joined kinds), or NO_ROW (what a stream join does per event). */
  lookup(key: unknown, cursor: Cursor): unknown {
    const base = this.baseKey(key)
    const row = this.rows.get(base)
    if (row !== undefined) return row.value
    this.locate(base, cursor, false)
    return NO_ROW
  }

  put(storeKey: string, key: unknown, value: unknown, partition: number, start = 0, end = 0): void {
    const existing = this.rows.get(storeKey)
    let row: Row
    if (existing !== undefined) {
      existing.value = value
      existing.partition = partition
      row = existing
    } else {
      row = { key, value, partition, start, end, dirty: false }
      this.rows.set(storeKey, row)
      this.kind.added(storeKey, row)
    }
    this.touch(storeKey, row)
  }

  /** Marks an updated row dirty. */
  touch(storeKey: string, row: Row): void {
    if (!row.dirty) {
      row.dirty = true
      this.dirty.set(storeKey, row)
    }
    this.writes++
    for (const d of this.derivedFrom) d.recompute(row.key, row.partition)
  }

  /** Empties the dirty set. */
  private clearDirty(): void {
    for (const row of this.dirty.values()) if (row !== TOMBSTONE) row.dirty = false
    this.dirty = new Map()
    this.dirtyPartition = new Map()
  }

  remove(storeKey: string, partition: number): void {
    const row = this.rows.get(storeKey)
    if (row === undefined) return
    this.rows.delete(storeKey)
    this.kind.removed(storeKey, row)
    this.dirty.set(storeKey, TOMBSTONE)
    this.dirtyPartition.set(storeKey, row.partition ?? partition)
    this.writes++
    for (const d of this.derivedFrom) d.recompute(row.key, row.partition)
  }

  /** Drops expired rows (windowed kinds); the next commit removes them from store and changelog. */
  expire(): number {
    return this.kind.expire()
  }

  // -- commit and recovery -----------------------------------------------------

  /** Forgets uncommitted changes (a failed exactly-once commit rebuilds from the log). */
  discardDirty(): void {
    this.clearDirty()
  }

  get dirtyCount(): number {
    return this.dirty.size
  }

  /** Turns the dirty set into changelog records and store changes, and clears it. */
  drain(timestamp: number): { records: ProduceRecord[]; changes: StoreChange[] } {
    const records: ProduceRecord[] = []
    const changes: StoreChange[] = []
    for (const [sk, row] of this.dirty) {
      const keyBytes = Buffer.from(sk, 'utf8')
      if (row === TOMBSTONE) {
        const partition = this.dirtyPartition.get(sk) ?? 0
        records.push({ topic: this.changelog, partition, key: keyBytes, value: null, timestamp })
        changes.push({ partition, key: sk, value: undefined })
      } else {
        const text = this.storedText(row)
        records.push({
          topic: this.changelog,
          partition: row.partition,
          key: keyBytes,
          value: Buffer.from(text, 'utf8'),
          timestamp,
        })
        changes.push({ partition: row.partition, key: sk, value: text })
      }
    }
    this.kind.drained(timestamp, records, changes)
    this.clearDirty()
    return { records, changes }
  }

  /** A row's stored form (store and changelog), as its kind writes it. */
  storedText(row: Row): string {
    return this.kind.text(row)
  }

  encodeValueText(value: unknown): string {
    const text = JSON.stringify(this.encodeValue(value))
    return text === undefined ? 'null' : text
  }

  decodeValueText(text: string): unknown {
    return this.decodeValue(JSON.parse(text))
  }

  /** Decodes an already parsed stored value (a kind's envelope holds it parsed). */
  decodeValueOf(parsed: unknown): unknown {
    return this.decodeValue(parsed)
  }

  /** Loads a row from its stored form (store row or changelog record). */
  loadRow(storeKey: string, valueText: string | undefined, partition: number): void {
    if (this.kind.restored(storeKey, partition, valueText)) return
    if (valueText === undefined) {
      const row = this.rows.get(storeKey)
      if (row) {
        this.rows.delete(storeKey)
        this.kind.removed(storeKey, row)
      }
      return
    }
    const existing = this.rows.get(storeKey)
    if (existing) {
      const r = this.kind.rowOf(storeKey, valueText, partition)
      existing.value = r.value
      existing.end = r.end
      existing.emitted = r.emitted
      existing.partition = partition
      return
    }
    const row = this.kind.rowOf(storeKey, valueText, partition)
    this.rows.set(storeKey, row)
    this.kind.added(storeKey, row)
  }

  applyChangelog(records: readonly BrokerRecord[]): StoreChange[] {
    return eachChange(records, (sk, text, partition) => this.loadRow(sk, text, partition))
  }

  /**
   * Forgets the in-memory rows of partitions (and their pending changes); the
   * store keeps its copy, so recovering them reads it before the changelog.
   */
  forgetPartitions(partitions: readonly number[]): void {
    const gone = new Set(partitions)
    for (const [sk, row] of this.rows) {
      if (gone.has(row.partition)) {
        this.rows.delete(sk)
        this.kind.removed(sk, row)
        this.dirty.delete(sk)
      }
    }
    this.kind.forget(partitions)
  }
}
