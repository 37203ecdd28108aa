/**
 * The `sqlite://` broker: a durable, partitioned, append-only log per topic in
 * one SQLite file that every app and process on the machine can share (a
 * `stream-app send` in one process reaches a worker in another). Fetches
 * long-poll without busy-waiting: same-process appends wake them directly,
 * other processes' commits through a file watch checked against
 * `PRAGMA data_version`, with a slow poll as the safety net.
 *
 * Because the log is a local database, `atomic.run` commits appended records,
 * table rows (the store from `atomic.store()`) and group offsets in one
 * transaction: exactly-once on sqlite://.
 */
import {
  type AtomicCommit,
  type AtomicTransaction,
  type Broker,
  BrokerError,
  type FetchOptions,
  type GroupConsumerOptions,
  type Logger,
  type PartitionReader,
  type ProduceRecord,
  type Producer,
  type RecordBatch,
  type RecordMetadata,
  type Store,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicSpec,
} from '@stream-app/core'
import { tpKey } from '@stream-app/core/runtime'
import type { Statement } from 'better-sqlite3'
import { type Db, guard, openDatabase } from './db.ts'
import { brokerError } from './errors.ts'
import type { BrokerFile, PollOwner, WakeReason } from './file.ts'
import { SqliteGroupConsumer } from './group.ts'
import { LogDb } from './log.ts'
import { Maintenance, type MaintenanceOptions, type MaintenanceResult } from './maintenance.ts'
import { SqliteStore } from './store.ts'
import { type Subscription, subscribeFile } from './wake.ts'

export const DEFAULT_BROKER_PATH = '.stream-app/broker.sqlite'

export interface SqliteBrokerOptions {
  /** The broker file; the platform passes `./.stream-app/broker.sqlite` for a bare `sqlite://`. */
  readonly path: string
  readonly log?: Logger
  /** How often group members heartbeat and re-check their assignment (default 1000 ms). */
  readonly heartbeatMs?: number
  /** A member whose heartbeat is older than this is taken over, even if its pid still exists (default 30 s). */
  readonly sessionTimeoutMs?: number
  /**
   * The safety-net poll for commits by other processes, in case a file-watch
   * event is missed (default 1000 ms; 50 ms when the file cannot be watched).
   */
  readonly pollMs?: number
  /** How often retention and compaction run in the background (default 30 s; 0 turns it off). */
  readonly maintenanceIntervalMs?: number
}

const FALLBACK_POLL_MS = 1_000
/**
 * After a -wal write is seen, how long to wait before each look at the database
 * for the commit it belongs to. The writer publishes the commit in the shared
 * index after writing the frames; on a loaded machine that can take far more
 * than one short recheck (a fetch in the test suite then waited for the poll).
 */
const RECHECK_MS = [5, 20, 60, 150, 400] as const
const DEGRADED_POLL_MS = 50

export class SqliteBroker implements Broker, BrokerFile {
  readonly url: string
  readonly description: string
  readonly shared = true
  readonly db: Db
  readonly file: string
  readonly log: LogDb
  readonly logger: Logger | undefined
  readonly heartbeatMs: number
  readonly sessionTimeoutMs: number
  readonly atomic: AtomicCommit
  closed = false
  private readonly waiters = new Set<(reason: WakeReason) => void>()
  private readonly changeListeners = new Set<() => void>()
  private readonly consumers = new Set<SqliteGroupConsumer>()
  private readonly sub: Subscription
  private readonly dataVersion: Statement<[], number>
  private lastVersion: number
  private checkQueued = false
  private recheck: NodeJS.Timeout | undefined
  private readonly pollTimer: NodeJS.Timeout
  private readonly maintenance: Maintenance
  private maintenanceTimer: NodeJS.Timeout | undefined
  private maintaining: Promise<MaintenanceResult> | undefined
  private readonly appendTx
  private readonly readTx

  constructor(options: SqliteBrokerOptions) {
    const { db, file } = openDatabase(options.path, brokerError)
    this.db = db
    this.file = file
    this.url = `sqlite://${options.path}`
    this.description = `sqlite ${file}`
    this.logger = options.log
    this.heartbeatMs = options.heartbeatMs ?? 1_000
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000
    try {
      this.log = guard(file, 'creating the broker schema', brokerError, () => new LogDb(db, file))
      this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck()
      this.lastVersion = this.dataVersion.get() ?? 0
    } catch (e) {
      db.close()
      throw e
    }
    this.appendTx = db.transaction((records: readonly ProduceRecord[]) => this.log.append(records))
    this.readTx = db.transaction((fn: () => unknown) => fn())
    this.sub = subscribeFile(file, this.onFileChange)
    this.pollTimer = setInterval(
      () => {
        if (this.waiters.size || this.changeListeners.size) this.checkExternal(false)
      },
      options.pollMs ?? (this.sub.degraded ? DEGRADED_POLL_MS : FALLBACK_POLL_MS),
    )
    this.pollTimer.unref()
    this.maintenance = new Maintenance(this)
    const every = options.maintenanceIntervalMs ?? 30_000
    if (every > 0) this.scheduleMaintenance(every)
    this.atomic = {
      store: (): Store =>
        this.run('opening the atomic store', () => new SqliteStore(db, file, 'store_', false, this.url)),
      run: <T>(fn: (tx: AtomicTransaction) => T): T => this.atomicRun(fn),
    }
  }

  // -- guarded access ---------------------------------------------------------------

  /** Runs fn against the database, mapping SQLite failures to one-line BrokerErrors. */
  run<T>(what: string, fn: () => T): T {
    if (this.closed) throw new BrokerError(`${what}: broker ${this.file} is closed`, false)
    return guard(this.file, what, brokerError, fn)
  }

  /** Runs fn in a write transaction (taking the write lock first, so reads inside see the latest commit). */
  write<T>(what: string, fn: () => T, notify = true): T {
    const out = this.run(what, () => this.db.transaction(fn).immediate())
    if (notify) this.sub.notifyLocal()
    return out
  }

  /** Runs reads in one read transaction: one consistent snapshot, one lock acquisition. */
  snapshot<T>(fn: () => T): T {
    return this.readTx(fn) as T
  }

  /** Tells every broker on this file in this process (this one included) that something was committed. */
  notify(): void {
    this.sub.notifyLocal()
  }

  // -- change notification --------------------------------------------------------------

  private onFileChange = (external: boolean): void => {
    if (this.closed) return
    if (!external) {
      this.changed()
      return
    }
    if (this.checkQueued) return
    this.checkQueued = true
    setImmediate(() => {
      this.checkQueued = false
      this.checkExternal(true)
    })
  }

  private checkExternal(retry: boolean, attempt = 0): void {
    if (this.closed) return
    let v: number
    try {
      v = this.dataVersion.get() ?? 0
    } catch {
      return
    }
    if (v !== this.lastVersion) {
      this.lastVersion = v
      this.changed()
    } else if ((retry || attempt > 0) && attempt < RECHECK_MS.length) {
      // The -wal write can be seen before the commit is published in the shared index: look again
      // (a new write starts the looks over).
      clearTimeout(this.recheck)
      this.recheck = setTimeout(() => {
        this.recheck = undefined
        this.checkExternal(false, attempt + 1)
      }, RECHECK_MS[attempt])
      this.recheck.unref()
    }
  }

  /** Something was committed: wake long polls and let group members look at their group. */
  private changed(): void {
    if (this.waiters.size) for (const w of [...this.waiters]) w('change')
    for (const l of [...this.changeListeners]) l()
  }

  onChanges(fn: () => void): () => void {
    this.changeListeners.add(fn)
    return () => this.changeListeners.delete(fn)
  }

  /** Resolves on the next change, after ms, or when cancelled. */
  waitForChange(ms: number): { promise: Promise<WakeReason>; cancel: (reason: WakeReason) => void } {
    let done!: (r: WakeReason) => void
    const promise = new Promise<WakeReason>((resolve) => {
      done = resolve
    })
    const finish = (reason: WakeReason) => {
      clearTimeout(timer)
      this.waiters.delete(finish)
      done(reason)
    }
    const timer = setTimeout(() => finish('timeout'), Math.max(0, ms))
    this.waiters.add(finish)
    return { promise, cancel: finish }
  }

  /** Collects now; if nothing is there, waits for a change (or wakeup, or maxWaitMs) and collects again. */
  async longPoll(owner: PollOwner, collect: () => RecordBatch[], maxWaitMs: number): Promise<RecordBatch[]> {
    const read = () => this.run('fetching records', () => this.snapshot(collect))
    let out = read()
    if (out.length || owner.closed || maxWaitMs <= 0) return out
    const deadline = performance.now() + maxWaitMs
    for (;;) {
      const w = this.waitForChange(deadline - performance.now())
      owner.wake = w.cancel
      const reason = await w.promise
      owner.wake = undefined
      if (owner.closed || this.closed) return []
      out = read()
      if (out.length || reason !== 'change' || performance.now() >= deadline) return out
    }
  }

  // -- Broker port ------------------------------------------------------------------------

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    if (!specs.length) return
    this.write(`creating topics ${specs.map((s) => `'${s.name}'`).join(', ')}`, () => {
      for (const s of specs) this.log.ensureTopic(s)
    })
  }

  async partitions(topic: string): Promise<number | undefined> {
    return this.run(`reading topic '${topic}'`, () => this.log.topic(topic)?.partitions)
  }

  async endOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.run('reading end offsets', () =>
      tps.map((tp) => ({
        topic: tp.topic,
        partition: tp.partition,
        offset: this.log.endOffset(tp.topic, tp.partition),
      })),
    )
  }

  async beginningOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.run('reading beginning offsets', () =>
      this.snapshot(() =>
        tps.map((tp) => ({
          topic: tp.topic,
          partition: tp.partition,
          offset: this.log.beginningOffset(tp.topic, tp.partition),
        })),
      ),
    )
  }

  /** Appends a batch in one transaction; the offsets are final when this returns. */
  append(records: readonly ProduceRecord[]): RecordMetadata[] {
    if (!records.length) return []
    const out = this.run(`producing ${records.length} records`, () => this.appendTx.immediate(records))
    this.sub.notifyLocal()
    return out
  }

  producer(): Producer {
    let closed = false
    return {
      send: async (records) => {
        if (closed) throw new BrokerError(`send on a closed producer (${this.file})`, false)
        return this.append(records)
      },
      close: async () => {
        closed = true
      },
    }
  }

  groupConsumer(options: GroupConsumerOptions): SqliteGroupConsumer {
    const c = new SqliteGroupConsumer(this, options)
    this.consumers.add(c)
    return c
  }

  /** Called by a consumer that closed. */
  forget(c: PollOwner): void {
    this.consumers.delete(c as SqliteGroupConsumer)
  }

  reader(assignments: readonly TopicPartitionOffset[]): SqliteReader {
    return new SqliteReader(this, assignments)
  }

  private atomicRun<T>(fn: (tx: AtomicTransaction) => T): T {
    let appended = false
    const tx: AtomicTransaction = {
      append: (records) => {
        if (records.length) appended = true
        return this.log.append(records)
      },
      commitOffsets: (groupId, offsets) => this.log.commitOffsets(groupId, offsets),
    }
    const out = this.run('atomic commit', () => this.db.transaction(() => fn(tx)).immediate())
    if (appended) this.sub.notifyLocal()
    return out
  }

  // -- retention and compaction -----------------------------------------------------------

  private scheduleMaintenance(every: number): void {
    this.maintenanceTimer = setTimeout(async () => {
      try {
        await this.maintain()
      } catch (e) {
        this.logger?.warn(`broker maintenance failed on ${this.file}: ${e instanceof Error ? e.message : e}`)
      }
      if (!this.closed) this.scheduleMaintenance(every)
    }, every)
    this.maintenanceTimer.unref()
  }

  /**
   * Runs retention (deletes records older than a topic's retentionMs) and
   * compaction (keeps the newest record per key; drops old tombstones) now, in
   * small transactions. `force` compacts every partition with anything new.
   */
  async maintain(options: MaintenanceOptions = {}): Promise<MaintenanceResult> {
    while (this.maintaining) await this.maintaining.catch(() => {})
    this.maintaining = this.maintenance.run(options)
    try {
      return await this.maintaining
    } finally {
      this.maintaining = undefined
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    for (const c of [...this.consumers]) await c.close().catch(() => {})
    this.closed = true
    clearInterval(this.pollTimer)
    clearTimeout(this.maintenanceTimer)
    clearTimeout(this.recheck)
    for (const w of [...this.waiters]) w('wakeup')
    this.sub.unsubscribe()
    await this.maintaining?.catch(() => {})
    if (this.db.open) this.db.close()
  }
}

export class SqliteReader implements PartitionReader, PollOwner {
  closed = false
  wake: ((reason: WakeReason) => void) | undefined
  private readonly positions = new Map<string, TopicPartitionOffset>()

  constructor(
    private readonly broker: SqliteBroker,
    assignments: readonly TopicPartitionOffset[],
  ) {
    for (const a of assignments) this.positions.set(tpKey(a.topic, a.partition), a)
  }

  fetch(options: FetchOptions): Promise<RecordBatch[]> {
    if (this.closed) return Promise.resolve([])
    return this.broker.longPoll(this, () => this.collect(options.maxRecords), options.maxWaitMs)
  }

  private collect(max: number): RecordBatch[] {
    const out: RecordBatch[] = []
    let budget = max
    for (const [k, tpo] of this.positions) {
      if (budget <= 0) break
      const { records, next } = this.broker.log.readNext(tpo.topic, tpo.partition, tpo.offset, budget)
      if (next !== tpo.offset)
        this.positions.set(k, { topic: tpo.topic, partition: tpo.partition, offset: next })
      if (!records.length) continue
      budget -= records.length
      out.push({ topic: tpo.topic, partition: tpo.partition, records })
    }
    return out
  }

  /** The offset the next fetch of a partition starts at (past deleted records at the tail). */
  position(tp: TopicPartition): number | undefined {
    return this.positions.get(tpKey(tp.topic, tp.partition))?.offset
  }

  seek(tpo: TopicPartitionOffset): void {
    this.positions.set(tpKey(tpo.topic, tpo.partition), tpo)
  }

  wakeup(): void {
    this.wake?.('wakeup')
  }

  async close(): Promise<void> {
    this.closed = true
    this.wakeup()
  }
}

/**
 * Opens (creating if needed) the broker file at `path`, shared with every other
 * process that opens the same file.
 *
 * @example
 * const broker = openSqliteBroker({ path: '.stream-app/broker.sqlite' })
 * await broker.ensureTopics([{ name: 'orders', partitions: 4 }])
 */
export function openSqliteBroker(options: SqliteBrokerOptions): SqliteBroker {
  return new SqliteBroker(options)
}
