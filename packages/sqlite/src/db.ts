/**
 * Opens a SQLite file the way both sqlite:// adapters need it: parent
 * directories created, WAL (readers never block the writer, and other
 * processes can share the file), synchronous=NORMAL (no fsync per commit; a
 * process crash loses nothing committed), and a busy timeout so a short write
 * by another process waits instead of failing.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { type ErrorFactory, sqliteFailure } from './errors.ts'

export type Db = Database.Database

/** How long a statement waits for another connection's lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000

export function openDatabase(path: string, make: ErrorFactory): { db: Db; file: string } {
  const file = resolve(path)
  let db: Db | undefined
  try {
    mkdirSync(dirname(file), { recursive: true })
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
    const opened = db
    // The first statement reads the header: a file that is not a database fails here.
    whileBusy(() => opened.pragma('journal_mode = WAL'))
    db.pragma('synchronous = NORMAL')
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma('temp_store = MEMORY')
    // Keep the WAL from growing without bound between checkpoints.
    db.pragma('journal_size_limit = 67108864')
    return { db, file }
  } catch (e) {
    try {
      db?.close()
    } catch {}
    const mapped = sqliteFailure(e, file, 'opening the database', make)
    throw mapped === e
      ? make(`cannot open ${file}: ${e instanceof Error ? e.message : String(e)}`, false, e)
      : mapped
  }
}

/**
 * Runs a statement SQLite may refuse with SQLITE_BUSY without waiting on the
 * busy handler (switching the journal mode while another process opens the
 * same new file, or recovers its WAL): two CLI commands started together in one
 * directory made one of them fail with "database is locked". Tried again, a
 * few milliseconds apart, for up to BUSY_TIMEOUT_MS. It blocks, as every call
 * of this synchronous driver does, and only while the file is being opened.
 */
function whileBusy<T>(fn: () => T): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let ms = 2; ; ms = Math.min(ms * 2, 100)) {
    try {
      return fn()
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '')
      if (!/^SQLITE_(BUSY|LOCKED)/.test(code) || Date.now() > deadline) throw e
      Atomics.wait(pause, 0, 0, ms)
    }
  }
}

/** Runs fn, mapping any SQLite failure to a one-line error naming the file. */
export function guard<T>(file: string, what: string, make: ErrorFactory, fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw sqliteFailure(e, file, what, make)
  }
}
