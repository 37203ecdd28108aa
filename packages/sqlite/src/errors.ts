/**
 * Turns better-sqlite3's errors into the tagged errors users see: one line that
 * names the file and says what was being done, and `retriable` true only when
 * waiting can help (another connection holds the lock).
 */
import { BrokerError, StoreError, StreamAppError } from '@stream-app/core'
import { messageOf } from '@stream-app/core/runtime'

export type ErrorFactory = (message: string, retriable: boolean, cause: unknown) => StreamAppError

export const brokerError: ErrorFactory = (m, r, cause) => new BrokerError(m, r, { cause })
export const storeError: ErrorFactory = (m, r, cause) => new StoreError(m, r, { cause })

const codeOf = (e: unknown): string =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    ? (e as { code: string }).code
    : ''

/** True for errors raised by SQLite itself (better-sqlite3's SqliteError carries the result code). */
export const isSqliteError = (e: unknown): boolean => codeOf(e).startsWith('SQLITE_')

/**
 * Maps a failure of an operation on `file` to a one-line StreamAppError. Errors
 * that are not SQLite's (a user's function throwing inside a transaction, a
 * StreamAppError) are returned unchanged.
 */
export function sqliteFailure(e: unknown, file: string, what: string, make: ErrorFactory): unknown {
  if (e instanceof StreamAppError) return e
  const code = codeOf(e)
  if (!code.startsWith('SQLITE_')) {
    // better-sqlite3 reports a closed connection as a TypeError without a code.
    if (e instanceof TypeError && /database connection is not open/i.test(e.message))
      return make(`${what}: ${file} is closed`, false, e)
    return e
  }
  const msg = messageOf(e)
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return make(`${file} is locked by another connection (${what}): ${msg}`, true, e)
  if (code === 'SQLITE_FULL') return make(`disk full: cannot write ${file} (${what}): ${msg}`, false, e)
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
    return make(`${file} is corrupt or not a SQLite database (${what}): ${msg}`, false, e)
  if (code.startsWith('SQLITE_CANTOPEN')) return make(`cannot open ${file} (${what}): ${msg}`, false, e)
  if (code.startsWith('SQLITE_READONLY')) return make(`${file} is read-only (${what}): ${msg}`, false, e)
  if (code.startsWith('SQLITE_IOERR')) return make(`I/O error on ${file} (${what}): ${msg}`, false, e)
  return make(`${what} failed on ${file}: ${msg}`, false, e)
}
