/**
 * The contract of a table kind, and the behaviour a kind starts from. The
 * core (tables.ts) holds what every table shares: the rows, the dirty set and
 * its changelog drain, the store, partition ownership. A kind decides what
 * differs: the store-key scheme, a row's stored form, the indexes beside the
 * rows, state stored with them (a partition's stream time), expiry, and what
 * an agent's `ctx.tables.<name>` is. The core asks its kind through method
 * calls on one object chosen when the table is built (table-kinds.ts).
 */
import type { ProduceRecord, StoreChange } from '../../ports/index.ts'
import type { Cursor } from './cursor.ts'
import type { Row, TableRuntime } from './tables.ts'

/** The kinds table-kinds.ts registers. */
export type TableKindName = 'plain' | 'windowed' | 'session' | 'set' | 'joined'

export interface TableKind {
  readonly name: TableKindName
  /** Rows are per (key, window): reads go by window, never by key alone. */
  readonly windowed: boolean
  /** Why a stream cannot join this table (stream.join), else undefined. */
  readonly joinRefusal: string | undefined
  /** How long after its end a row expires (windows with expires), else undefined: nothing to expire. */
  readonly expiresMs: number | undefined
  /** What an agent's `ctx.tables.<name>` is, bound to its cursor. */
  view(cursor: Cursor): unknown
  /** What a key query (GET /tables/:name/:key) answers, read through a view of this table. */
  answer(view: unknown, key: unknown): unknown
  /** An answer as JSON text, in the value's codec. */
  answerText(answer: unknown): string
  /** The key text a store key holds (the part its partition follows). */
  baseOf(storeKey: string): string
  /** The window start a store key holds (0 for kinds without windows). */
  startOf(storeKey: string): number
  /** A row's stored form, in the store and the changelog. */
  text(row: Row): string
  /** A row from its stored form. */
  rowOf(storeKey: string, text: string, partition: number): Row
  /** A row joined the table's rows: the kind's indexes take it. */
  added(storeKey: string, row: Row): void
  /** A row left the table's rows. */
  removed(storeKey: string, row: Row): void
  /** A stored entry read back that is the kind's own, not a row (a stream time): taken, and true. */
  restored(storeKey: string, partition: number, text: string | undefined): boolean
  /** Adds the kind's own stored entries that changed since the last commit. */
  drained(timestamp: number, records: ProduceRecord[], changes: StoreChange[]): void
  /** The kind's own stored entries of a partition, for a store written afresh from memory. */
  storedOf(partition: number): StoreChange[]
  /** Partitions that left this worker: the kind forgets what it kept of them. */
  forget(partitions: readonly number[]): void
  /** Drops expired rows from memory (the next commit removes them from store and changelog). */
  expire(): number
}

/**
 * A kind whose rows are one per key, stored as their value: what plain and set
 * tables are, and what other kinds override from.
 */
export abstract class BaseKind implements TableKind {
  abstract readonly name: TableKindName
  readonly windowed: boolean = false
  readonly joinRefusal: string | undefined = undefined
  readonly expiresMs: number | undefined = undefined

  constructor(readonly t: TableRuntime) {}

  abstract view(cursor: Cursor): unknown

  answer(view: unknown, key: unknown): unknown {
    return (view as { get(k: unknown): unknown }).get(key)
  }
  answerText(answer: unknown): string {
    return this.t.encodeValueText(answer)
  }

  baseOf(storeKey: string): string {
    return storeKey
  }
  startOf(_storeKey: string): number {
    return 0
  }
  text(row: Row): string {
    return this.t.encodeValueText(row.value)
  }
  rowOf(storeKey: string, text: string, partition: number): Row {
    const t = this.t
    const value = t.decodeValueText(text)
    return { key: t.keyOf(this.baseOf(storeKey)), value, partition, start: 0, end: 0, dirty: false }
  }
  added(_storeKey: string, _row: Row): void {}
  removed(_storeKey: string, _row: Row): void {}
  restored(_storeKey: string, _partition: number, _text: string | undefined): boolean {
    return false
  }
  drained(_timestamp: number, _records: ProduceRecord[], _changes: StoreChange[]): void {}
  storedOf(_partition: number): StoreChange[] {
    return []
  }
  forget(_partitions: readonly number[]): void {}
  expire(): number {
    return 0
  }
}
