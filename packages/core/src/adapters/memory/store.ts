/**
 * The `memory://` table store: rows and persisted changelog offsets in Maps.
 * Not durable; on start a memory-stored table is rebuilt from its changelog.
 * Like sqlite://, it scans in key order and a transaction whose function
 * throws leaves nothing of it behind (an undo journal while one is open).
 */
import type { Store, StoreChange, StoreRow, TableStore } from '../../ports/index.ts'

/**
 * Undo steps as flat triples (map, key, previous value; undefined: absent),
 * replayed backwards on a throw. Flat, so a commit allocates no object per change.
 */
type Journal = unknown[]

function* pages(rows: ReadonlyMap<string, string>, partition: number, size: number) {
  // Sorted as SQLite sorts text keys for the ASCII keys tables mostly have; a snapshot, so
  // writes between pages (a commit of another partition while recovering) are harmless.
  const keys = [...rows.keys()].sort()
  for (let i = 0; i < keys.length; i += size)
    yield keys.slice(i, i + size).map((key) => ({ partition, key, value: rows.get(key)! }))
}

class MemTableStore implements TableStore {
  private rows = new Map<number, Map<string, string>>()
  private offsets = new Map<number, number>()

  constructor(private readonly journal: () => Journal | undefined) {}

  scan(partition: number, pageSize: number): Iterable<readonly StoreRow[]> {
    return pages(this.rows.get(partition) ?? new Map(), partition, pageSize)
  }
  persistedOffsets(partitions: readonly number[]): Map<number, number> {
    const out = new Map<number, number>()
    for (const p of partitions) {
      const o = this.offsets.get(p)
      if (o !== undefined) out.set(p, o)
    }
    return out
  }
  apply(changes: readonly StoreChange[], offsets: ReadonlyMap<number, number>): void {
    const undo = this.journal()
    for (const c of changes) {
      let part = this.rows.get(c.partition)
      if (!part) {
        this.rows.set(c.partition, (part = new Map()))
        undo?.push(this.rows, c.partition, undefined)
      }
      undo?.push(part, c.key, part.get(c.key))
      if (c.value === undefined) part.delete(c.key)
      else part.set(c.key, c.value)
    }
    for (const [p, o] of offsets) {
      undo?.push(this.offsets, p, this.offsets.get(p))
      this.offsets.set(p, o)
    }
  }
  dropPartitions(partitions: readonly number[]): void {
    const undo = this.journal()
    for (const p of partitions) {
      undo?.push(this.rows, p, this.rows.get(p), this.offsets, p, this.offsets.get(p))
      this.rows.delete(p)
      this.offsets.delete(p)
    }
  }
  close(): void {}
}

export class MemoryStore implements Store {
  readonly url = 'memory://'
  readonly description = 'in-process memory (gone on exit)'
  readonly durable = false
  private tables = new Map<string, MemTableStore>()
  private journal: Journal | undefined
  private readonly openJournal = () => this.journal

  table(name: string): TableStore {
    let t = this.tables.get(name)
    if (!t) this.tables.set(name, (t = new MemTableStore(this.openJournal)))
    return t
  }
  /** Nested calls undo only their own steps when they throw, as savepoints do. */
  transaction<T>(fn: () => T): T {
    const outer = this.journal === undefined
    const journal = (this.journal ??= [])
    const mark = journal.length
    try {
      return fn()
    } catch (e) {
      for (let i = journal.length - 3; i >= mark; i -= 3) {
        const map = journal[i] as Map<unknown, unknown>
        const previous = journal[i + 2]
        if (previous === undefined) map.delete(journal[i + 1])
        else map.set(journal[i + 1], previous)
      }
      journal.length = mark
      throw e
    } finally {
      if (outer) this.journal = undefined
    }
  }
  close(): void {}
}
