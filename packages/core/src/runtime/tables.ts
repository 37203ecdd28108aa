/**
 * Table state at run time. Reads and writes hit an in-memory Map; changed keys
 * collect in a dirty set that each commit turns into changelog records (one per
 * key, the latest value, a tombstone for deletes) and one store transaction.
 * Windowed tables store one row per (key, window start).
 */
import { oneLine, schemaCodec } from '../codec.ts'
import type { TableDef } from '../definition.ts'
import { type Duration, toMillis } from '../duration.ts'
import { partitionForKey } from '../partitioner.ts'
import type { BrokerRecord, Clock, ProduceRecord, StoreChange, TableStore } from '../ports.ts'
import type { Table, WindowedTable, WindowValue } from '../types.ts'
import type { WindowRange } from '../windows.ts'
import type { Cursor } from './cursor.ts'

interface Row {
  key: unknown
  value: unknown
  partition: number
  /** window start/end for windowed tables */
  start: number
  end: number
  /** In the dirty set (so an update of a dirty row costs no second Map lookup). */
  dirty: boolean
}

const TOMBSTONE = Symbol('tombstone')

export class TableRuntime {
  readonly name: string
  readonly changelog: string
  readonly windowed: boolean
  readonly rows = new Map<string, Row>()
  /** windowed only: base key → window start → store key */
  private readonly index = new Map<string, Map<number, string>>()
  private dirty = new Map<string, Row | typeof TOMBSTONE>()
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
    readonly partitions: number,
    readonly store: TableStore,
    readonly clock: Clock,
  ) {
    this.name = def.name
    this.changelog = `${appId}-${def.name}-changelog`
    this.windowed = def.window !== undefined
    this.stringKeys = def.keySchema.ast._tag === 'String'
    const k = schemaCodec(def.keySchema)
    const v = schemaCodec(def.valueSchema)
    this.encodeKey = k.encode
    this.decodeKey = k.decode
    this.encodeValue = v.encode
    this.decodeValue = v.decode
    const d = def.default
    this.makeDefault = d ?? (() => undefined)
  }

  // -- keys ------------------------------------------------------------------

  baseKey(key: unknown): string {
    if (this.stringKeys && typeof key === 'string') return key
    try {
      return JSON.stringify(this.encodeKey(key))
    } catch (e) {
      throw new TypeError(`table '${this.name}': invalid key ${String(key)}: ${oneLine(e)}`)
    }
  }

  private windowKey(base: string, start: number): string {
    return `${start}:${base}`
  }

  private parseStoreKey(storeKey: string): { key: unknown; start: number; base: string } {
    let base = storeKey
    let start = 0
    if (this.windowed) {
      const i = storeKey.indexOf(':')
      start = Number(storeKey.slice(0, i))
      base = storeKey.slice(i + 1)
    }
    const key = this.stringKeys ? base : this.decodeKey(JSON.parse(base))
    return { key, start, base }
  }

  hashPartition(base: string): number {
    return partitionForKey(Buffer.from(base, 'utf8'), this.partitions)
  }

  // -- plain table operations ------------------------------------------------

  get(key: unknown): unknown {
    const row = this.rows.get(this.baseKey(key))
    return row === undefined ? this.makeDefault() : row.value
  }

  has(key: unknown): boolean {
    return this.rows.has(this.baseKey(key))
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
      if (this.windowed) this.indexAdd(storeKey, start)
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
    if (this.windowed) this.indexRemove(storeKey, row.start)
    this.dirty.set(storeKey, TOMBSTONE)
    this.dirtyPartition.set(storeKey, row.partition ?? partition)
    this.writes++
  }

  private indexAdd(storeKey: string, start: number): void {
    const base = storeKey.slice(storeKey.indexOf(':') + 1)
    let m = this.index.get(base)
    if (!m) this.index.set(base, (m = new Map()))
    m.set(start, storeKey)
  }

  private indexRemove(storeKey: string, start: number): void {
    const base = storeKey.slice(storeKey.indexOf(':') + 1)
    const m = this.index.get(base)
    if (!m) return
    m.delete(start)
    if (m.size === 0) this.index.delete(base)
  }

  // -- windows ---------------------------------------------------------------

  isExpired(end: number): boolean {
    const e = this.def.window?.expiresMs
    return e !== undefined && end + e <= this.clock.now()
  }

  windowGet(key: unknown, range: WindowRange): unknown {
    if (this.isExpired(range.end)) return this.makeDefault()
    const row = this.rows.get(this.windowKey(this.baseKey(key), range.start))
    return row === undefined ? this.makeDefault() : row.value
  }

  windowUpdate(key: unknown, ts: number, partition: number | undefined, fn: (v: unknown) => unknown): void {
    const base = this.baseKey(key)
    const p = partition ?? this.hashPartition(base)
    for (const r of this.def.window!.ranges(ts)) {
      if (this.isExpired(r.end)) continue
      const sk = this.windowKey(base, r.start)
      const row = this.rows.get(sk)
      this.put(sk, key, fn(row === undefined ? this.makeDefault() : row.value), p, r.start, r.end)
    }
  }

  windowDelete(key: unknown, ts: number, partition: number | undefined): void {
    const base = this.baseKey(key)
    for (const r of this.def.window!.ranges(ts)) this.remove(this.windowKey(base, r.start), partition ?? 0)
  }

  windowsOf(key: unknown): WindowValue<unknown>[] {
    const m = this.index.get(this.baseKey(key))
    if (!m) return []
    const out: WindowValue<unknown>[] = []
    for (const sk of m.values()) {
      const row = this.rows.get(sk)
      if (row && !this.isExpired(row.end)) out.push({ start: row.start, end: row.end, value: row.value })
    }
    return out.sort((a, b) => a.start - b.start)
  }

  *windowKeys(): IterableIterator<unknown> {
    for (const m of this.index.values()) {
      for (const sk of m.values()) {
        const row = this.rows.get(sk)
        if (row && !this.isExpired(row.end)) {
          yield row.key
          break
        }
      }
    }
  }

  /** Drops expired windows from memory; the next commit removes them from store and changelog. */
  expire(): number {
    if (!this.windowed || this.def.window?.expiresMs === undefined) return 0
    let n = 0
    for (const [sk, row] of this.rows) {
      if (this.isExpired(row.end)) {
        this.remove(sk, row.partition)
        n++
      }
    }
    return n
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
        const text = this.encodeValueText(row.value)
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
    this.clearDirty()
    return { records, changes }
  }

  encodeValueText(value: unknown): string {
    const text = JSON.stringify(this.encodeValue(value))
    return text === undefined ? 'null' : text
  }

  /** Loads a row from its stored form (store row or changelog record). */
  loadRow(storeKey: string, valueText: string | undefined, partition: number): void {
    if (valueText === undefined) {
      const row = this.rows.get(storeKey)
      if (row) {
        this.rows.delete(storeKey)
        if (this.windowed) this.indexRemove(storeKey, row.start)
      }
      return
    }
    const { key, start } = this.parseStoreKey(storeKey)
    const value = this.decodeValue(JSON.parse(valueText))
    const end = this.windowed ? this.windowEnd(start) : 0
    const existing = this.rows.get(storeKey)
    if (existing) {
      existing.value = value
      existing.partition = partition
      return
    }
    this.rows.set(storeKey, { key, value, partition, start, end, dirty: false })
    if (this.windowed) this.indexAdd(storeKey, start)
  }

  private windowEnd(start: number): number {
    const w = this.def.window!
    return w.kind === 'sliding' ? start + w.sizeMs : start + w.sizeMs
  }

  applyChangelog(records: readonly BrokerRecord[]): StoreChange[] {
    const changes: StoreChange[] = []
    for (const r of records) {
      if (r.key === null) continue
      const sk = Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString('utf8')
      const text =
        r.value === null
          ? undefined
          : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength).toString('utf8')
      this.loadRow(sk, text, r.partition)
      changes.push({ partition: r.partition, key: sk, value: text })
    }
    return changes
  }

  dropPartitions(partitions: readonly number[]): void {
    const gone = new Set(partitions)
    for (const [sk, row] of this.rows) {
      if (gone.has(row.partition)) {
        this.rows.delete(sk)
        if (this.windowed) this.indexRemove(sk, row.start)
        this.dirty.delete(sk)
      }
    }
    this.store.dropPartitions(partitions)
  }

  // -- views -------------------------------------------------------------------

  view(cursor: Cursor): Table<unknown, unknown> | WindowedTable<unknown, unknown> {
    return this.windowed ? new WindowedView(this, cursor, undefined) : new PlainView(this, cursor)
  }
}

const partitionOf = (t: TableRuntime, cursor: Cursor, base: string): number => {
  const p = cursor.current?.rec.partition
  return p !== undefined && p < t.partitions ? p : t.hashPartition(base)
}

class PlainView implements Table<unknown, unknown> {
  constructor(
    private readonly t: TableRuntime,
    private readonly cursor: Cursor,
  ) {}
  get(key: unknown): unknown {
    return this.t.get(key)
  }
  set(key: unknown, value: unknown): void {
    const base = this.t.baseKey(key)
    this.t.put(base, key, value, partitionOf(this.t, this.cursor, base))
  }
  update(key: unknown, fn: (value: unknown) => unknown): void {
    const t = this.t
    const base = t.baseKey(key)
    const row = t.rows.get(base)
    if (row !== undefined) {
      // The common case in place: one lookup, no new row.
      row.value = fn(row.value)
      row.partition = partitionOf(t, this.cursor, base)
      t.touch(base, row)
      return
    }
    t.put(base, key, fn(t.get(key)), partitionOf(t, this.cursor, base))
  }
  delete(key: unknown): void {
    const base = this.t.baseKey(key)
    this.t.remove(base, partitionOf(this.t, this.cursor, base))
  }
  has(key: unknown): boolean {
    return this.t.has(key)
  }
  *entries(): IterableIterator<[unknown, unknown]> {
    for (const row of this.t.rows.values()) yield [row.key, row.value]
  }
  get size(): number {
    return this.t.rows.size
  }
}

class WindowedView implements WindowedTable<unknown, unknown> {
  constructor(
    private readonly t: TableRuntime,
    private readonly cursor: Cursor,
    private readonly fixedTs: number | undefined,
  ) {}
  private ts(): number {
    return this.fixedTs ?? this.cursor.current?.rec.timestamp ?? this.t.clock.now()
  }
  private partition(key: unknown): number | undefined {
    const p = this.cursor.current?.rec.partition
    return p !== undefined && p < this.t.partitions ? p : this.t.hashPartition(this.t.baseKey(key))
  }
  set(key: unknown, value: unknown): void {
    this.t.windowUpdate(key, this.ts(), this.partition(key), () => value)
  }
  update(key: unknown, fn: (value: unknown) => unknown): void {
    this.t.windowUpdate(key, this.ts(), this.partition(key), fn)
  }
  delete(key: unknown): void {
    this.t.windowDelete(key, this.ts(), this.partition(key))
  }
  at(timestampMs: number): WindowedTable<unknown, unknown> {
    return new WindowedView(this.t, this.cursor, timestampMs)
  }
  current(key: unknown): unknown {
    return this.t.windowGet(key, this.t.def.window!.current(this.ts()))
  }
  now(key: unknown): unknown {
    return this.t.windowGet(key, this.t.def.window!.current(this.t.clock.now()))
  }
  delta(key: unknown, duration: Duration): unknown {
    return this.t.windowGet(
      key,
      this.t.def.window!.current(this.ts() - toMillis(duration, `table '${this.t.name}' delta`)),
    )
  }
  windows(key: unknown): WindowValue<unknown>[] {
    return this.t.windowsOf(key)
  }
  keys(): IterableIterator<unknown> {
    return this.t.windowKeys()
  }
  get size(): number {
    let n = 0
    for (const _ of this.t.windowKeys()) n++
    return n
  }
}
