/**
 * What the group coordinator and maintenance need of a broker file: its
 * database and log, its timings, guarded reads and writes, and waiting for a
 * change. Both depend on this, not on SqliteBroker, so the broker can own
 * them without an import circle.
 */
import type { Logger, RecordBatch } from '@stream-app/core'
import type { Db } from './db.ts'
import type { LogDb } from './log.ts'

export type WakeReason = 'change' | 'timeout' | 'wakeup'

/** Something a long poll can be woken from and that may close while waiting. */
export interface PollOwner {
  closed: boolean
  wake: ((reason: WakeReason) => void) | undefined
}

export interface BrokerFile {
  readonly db: Db
  readonly file: string
  readonly log: LogDb
  readonly logger: Logger | undefined
  readonly heartbeatMs: number
  readonly sessionTimeoutMs: number
  readonly closed: boolean
  /** Runs a read, turning SQLite errors into broker errors naming the file. */
  run<T>(what: string, fn: () => T): T
  /** Runs a write in a transaction; wakes this process's waiters unless told not to. */
  write<T>(what: string, fn: () => T, notify?: boolean): T
  notify(): void
  onChanges(fn: () => void): () => void
  waitForChange(ms: number): { promise: Promise<WakeReason>; cancel: (reason: WakeReason) => void }
  longPoll(owner: PollOwner, collect: () => RecordBatch[], maxWaitMs: number): Promise<RecordBatch[]>
  /** A group consumer closed: the broker stops tracking it. */
  forget(c: PollOwner): void
}
