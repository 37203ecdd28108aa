/**
 * The `memory://` table store: rows and persisted changelog offsets in Maps.
 * Not durable; on start a memory-stored table is rebuilt from its changelog.
 */
import type { Store, StoreChange, StoreRow, TableStore } from '../../ports/index.ts'

function* pages(rows: ReadonlyMap<string, string>, partition: number, size: number) {
  let page: StoreRow[] = []
  for (const [key, value] of rows) {
    page.push({ partition, key, value })
    if (page.length >= size) {
      yield page
      page = []
    }
  }
  if (page.length) yield page
}

class MemTableStore implements TableStore {
  private rows = new Map<number, Map<string, string>>()
  private offsets = new Map<number, number>()

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
    for (const c of changes) {
      let part = this.rows.get(c.partition)
      if (!part) this.rows.set(c.partition, (part = new Map()))
      if (c.value === undefined) part.delete(c.key)
      else part.set(c.key, c.value)
    }
    for (const [p, o] of offsets) this.offsets.set(p, o)
  }
  dropPartitions(partitions: readonly number[]): void {
    for (const p of partitions) {
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
  table(name: string): TableStore {
    let t = this.tables.get(name)
    if (!t) this.tables.set(name, (t = new MemTableStore()))
    return t
  }
  transaction<T>(fn: () => T): T {
    return fn()
  }
  close(): void {}
}
