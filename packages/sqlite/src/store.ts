/**
 * The `sqlite://` table store: one SQLite file per app holding every table's
 * rows per (table, partition, key) and the changelog offset each partition
 * reflects. `apply` writes rows and offsets in one transaction, so after a
 * crash the stored offset says exactly which changelog records the rows contain.
 *
 * The same class also lives inside the broker's database (with a table-name
 * prefix) for exactly-once on sqlite://, where its writes join the broker's
 * transaction.
 */
import { type Store, type StoreChange, StoreError, type StoreRow, type TableStore } from '@stream-app/core'
import { type Db, guard, openDatabase } from './db.ts'
import { storeError } from './errors.ts'

type Row = [partition: number, key: string, value: string]

export class SqliteStore implements Store {
  readonly url: string
  readonly description: string
  readonly durable = true
  private closed = false
  private readonly tables = new Map<string, SqliteTableStore>()
  /** @internal shared with SqliteTableStore below; its type names better-sqlite3's, which users need not install */
  readonly stmts: ReturnType<typeof prepareStore>

  /**
   * @param ownsDb close the database on close() (false when the broker owns it)
   */
  constructor(
    readonly db: Db,
    readonly file: string,
    prefix: string,
    private readonly ownsDb: boolean,
    url: string,
  ) {
    this.url = url
    this.description = ownsDb ? `sqlite ${file}` : `sqlite ${file} (tables in the broker's database)`
    this.stmts = guard(file, 'creating the store schema', storeError, () => prepareStore(db, prefix))
  }

  check(what: string): void {
    if (this.closed || !this.db.open) throw new StoreError(`${what}: store ${this.file} is closed`, false)
  }

  table(name: string): TableStore {
    this.check(`table '${name}'`)
    let t = this.tables.get(name)
    if (!t) this.tables.set(name, (t = new SqliteTableStore(this, name)))
    return t
  }

  /** Nested calls become savepoints, so a table's apply inside a commit's transaction stays atomic. */
  transaction<T>(fn: () => T): T {
    this.check('transaction')
    return guard(this.file, 'store transaction', storeError, () => this.db.transaction(fn).immediate())
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.ownsDb && this.db.open) this.db.close()
  }
}

function prepareStore(db: Db, prefix: string) {
  const rows = `${prefix}table_rows`
  const offsets = `${prefix}table_offsets`
  db.exec(`
    CREATE TABLE IF NOT EXISTS ${rows} (
      tbl TEXT NOT NULL, part INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
      PRIMARY KEY (tbl, part, key)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ${offsets} (
      tbl TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
      PRIMARY KEY (tbl, part)
    ) WITHOUT ROWID;
  `)
  return {
    upsert: db.prepare<[string, number, string, string]>(
      `INSERT INTO ${rows} (tbl, part, key, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (tbl, part, key) DO UPDATE SET value = excluded.value`,
    ),
    remove: db.prepare<[string, number, string]>(
      `DELETE FROM ${rows} WHERE tbl = ? AND part = ? AND key = ?`,
    ),
    // Keyset pages in primary-key order: no statement stays open between pages.
    firstPage: db
      .prepare<[string, number, number], Row>(
        `SELECT part, key, value FROM ${rows} WHERE tbl = ? AND part = ? ORDER BY key LIMIT ?`,
      )
      .raw(),
    nextPage: db
      .prepare<[string, number, string, number], Row>(
        `SELECT part, key, value FROM ${rows} WHERE tbl = ? AND part = ? AND key > ? ORDER BY key LIMIT ?`,
      )
      .raw(),
    setOffset: db.prepare<[string, number, number]>(
      `INSERT INTO ${offsets} (tbl, part, next_offset) VALUES (?, ?, ?)
       ON CONFLICT (tbl, part) DO UPDATE SET next_offset = excluded.next_offset`,
    ),
    getOffset: db
      .prepare<[string, number], number>(`SELECT next_offset FROM ${offsets} WHERE tbl = ? AND part = ?`)
      .pluck(),
    dropRows: db.prepare<[string, number]>(`DELETE FROM ${rows} WHERE tbl = ? AND part = ?`),
    dropOffset: db.prepare<[string, number]>(`DELETE FROM ${offsets} WHERE tbl = ? AND part = ?`),
  }
}

class SqliteTableStore implements TableStore {
  private readonly applyTx
  private readonly dropTx

  constructor(
    private readonly store: SqliteStore,
    private readonly name: string,
  ) {
    const { db, stmts } = store
    this.applyTx = db.transaction((changes: readonly StoreChange[], offsets: ReadonlyMap<number, number>) => {
      for (let i = 0; i < changes.length; i++) {
        const c = changes[i]!
        if (c.value === undefined) stmts.remove.run(name, c.partition, c.key)
        else stmts.upsert.run(name, c.partition, c.key, c.value)
      }
      for (const [p, o] of offsets) stmts.setOffset.run(name, p, o)
    })
    this.dropTx = db.transaction((partitions: readonly number[]) => {
      for (const p of partitions) {
        stmts.dropRows.run(name, p)
        stmts.dropOffset.run(name, p)
      }
    })
  }

  private run<T>(what: string, fn: () => T): T {
    this.store.check(`table '${this.name}': ${what}`)
    return guard(this.store.file, `table '${this.name}': ${what}`, storeError, fn)
  }

  *scan(partition: number, pageSize: number): Iterable<readonly StoreRow[]> {
    let after: string | undefined
    for (;;) {
      const page = this.run('load', () =>
        after === undefined
          ? this.store.stmts.firstPage.all(this.name, partition, pageSize)
          : this.store.stmts.nextPage.all(this.name, partition, after, pageSize),
      )
      if (page.length === 0) return
      yield page.map(([p, key, value]) => ({ partition: p, key, value }))
      if (page.length < pageSize) return
      after = page[page.length - 1]![1]
    }
  }

  persistedOffsets(partitions: readonly number[]): Map<number, number> {
    return this.run('read offsets', () => {
      const out = new Map<number, number>()
      for (const p of partitions) {
        const o = this.store.stmts.getOffset.get(this.name, p)
        if (o !== undefined) out.set(p, o)
      }
      return out
    })
  }

  apply(changes: readonly StoreChange[], offsets: ReadonlyMap<number, number>): void {
    this.run(`apply ${changes.length} changes`, () => this.applyTx.immediate(changes, offsets))
  }

  dropPartitions(partitions: readonly number[]): void {
    if (partitions.length) this.run('drop partitions', () => this.dropTx.immediate(partitions))
  }

  close(): void {}
}

/**
 * Opens (creating if needed) the table store file at `path`.
 *
 * @example
 * const store = openSqliteStore({ path: '.stream-app/shop/store.sqlite' })
 */
export function openSqliteStore(options: { path: string }): Store {
  const { db, file } = openDatabase(options.path, storeError)
  try {
    return new SqliteStore(db, file, '', true, `sqlite://${options.path}`)
  } catch (e) {
    db.close()
    throw e
  }
}
