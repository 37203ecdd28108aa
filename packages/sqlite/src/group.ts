/**
 * Consumer groups across processes on one broker file. Each member has a row
 * (pid, host, heartbeat, subscription, owned partitions); any change to the
 * group bumps its version, which wakes the other members through the broker's
 * change notification. Every member computes the same target assignment from
 * the live members (co-partitioned: partition p of every topic goes to member
 * p mod n, in join order), then first gives up what it no longer should own
 * (listener.onRevoke, then release in the file) and only claims partitions
 * that no other live member still owns — so a partition is never processed by
 * two members at once. A member whose process is gone, or whose heartbeat is
 * older than the session timeout, is removed and its partitions taken over.
 * A partition whose onAssign fails (its table state could not be loaded) is
 * given back and never fetched: start() rejects with the error, and after
 * start the next heartbeat tries again.
 */
import { hostname } from 'node:os'
import {
  BrokerError,
  type FetchOptions,
  type GroupConsumer,
  type GroupConsumerOptions,
  type GroupMember,
  type RecordBatch,
  type TopicPartition,
  type TopicPartitionOffset,
} from '@stream-app/core'
import { fmtTps, retryPromise, tpKey } from '@stream-app/core/runtime'
import type { BrokerFile, PollOwner } from './file.ts'

const HOST = hostname()

interface MemberRow {
  member_id: string
  pid: number
  host: string
  joined_at: number
  heartbeat_at: number
  topics: string
  metadata: string
  owned: string
}

type Owned = [topic: string, partition: number][]

const keyOf = (tp: TopicPartition) => tpKey(tp.topic, tp.partition)

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM'
  }
}

/** A settling try that left partitions held by another member (retried until they are let go). */
const NOT_SETTLED = new Error('partitions still held by another member')

/** The listener could not take partitions it was given (their table state failed to load, say). */
class AssignFailed extends Error {
  constructor(
    readonly tps: readonly TopicPartition[],
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error))
  }
}

const parseOwned = (s: string): TopicPartition[] =>
  (JSON.parse(s) as Owned).map(([topic, partition]) => ({ topic, partition }))

function statements(broker: BrokerFile) {
  const db = broker.db
  return {
    insert: db.prepare<[string, string, number, string, number, number, string, string]>(
      `INSERT INTO group_members (grp, member_id, pid, host, joined_at, heartbeat_at, topics, metadata, owned)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')`,
    ),
    remove: db.prepare<[string, string]>('DELETE FROM group_members WHERE grp = ? AND member_id = ?'),
    heartbeat: db.prepare<[number, string, string]>(
      'UPDATE group_members SET heartbeat_at = ? WHERE grp = ? AND member_id = ?',
    ),
    setTopics: db.prepare<[string, string, string]>(
      'UPDATE group_members SET topics = ? WHERE grp = ? AND member_id = ?',
    ),
    setOwned: db.prepare<[string, string, string]>(
      'UPDATE group_members SET owned = ? WHERE grp = ? AND member_id = ?',
    ),
    members: db.prepare<[string], MemberRow>(
      'SELECT member_id, pid, host, joined_at, heartbeat_at, topics, metadata, owned FROM group_members WHERE grp = ?',
    ),
    owned: db
      .prepare<[string, string], string>('SELECT owned FROM group_members WHERE grp = ? AND member_id = ?')
      .pluck(),
    bump: db.prepare<[string]>(
      `INSERT INTO consumer_groups (grp, version) VALUES (?, 1)
       ON CONFLICT (grp) DO UPDATE SET version = version + 1`,
    ),
    version: db.prepare<[string], number>('SELECT version FROM consumer_groups WHERE grp = ?').pluck(),
  }
}

export class SqliteGroupConsumer implements GroupConsumer, PollOwner {
  closed = false
  /** Set once close() has run onRevoke: until then the listener may still commit what it holds. */
  private left = false
  wake: PollOwner['wake']
  readonly memberId: string
  private readonly group: string
  private readonly s: ReturnType<typeof statements>
  private topics: Set<string>
  private owned: TopicPartition[] = []
  /** Claimed but still being recovered by the listener: not fetched yet. */
  private readonly pending = new Set<string>()
  private readonly positions = new Map<string, number>()
  private readonly paused = new Set<string>()
  private joined = false
  private lastVersion = -1
  private rr = 0
  private running: Promise<boolean> | undefined
  private again = false
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  /** While start() or subscribe() waits for the assignment, an onAssign failure goes to it (not the log). */
  private settling = false
  private assignFailure: AssignFailed | undefined

  constructor(
    private readonly broker: BrokerFile,
    private readonly options: GroupConsumerOptions,
  ) {
    this.group = options.groupId
    this.topics = new Set(options.topics)
    this.memberId = `${options.groupId}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`
    this.s = broker.run('preparing group statements', () => statements(broker))
  }

  private get where(): string {
    return `group '${this.group}' on ${this.broker.file}`
  }

  // -- membership ---------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.closed) throw new BrokerError(`start on a closed consumer (${this.where})`, false)
    this.join()
    this.unsubscribe = this.broker.onChanges(() => this.onChange())
    this.timer = setInterval(() => void this.reconcileSoon(), this.broker.heartbeatMs)
    this.timer.unref()
    await this.settle()
  }

  private join(): void {
    const now = Date.now()
    this.broker.write(`joining ${this.where}`, () => {
      this.s.insert.run(
        this.group,
        this.memberId,
        process.pid,
        HOST,
        now,
        now,
        JSON.stringify([...this.topics]),
        this.options.memberMetadata ?? '',
      )
      this.s.bump.run(this.group)
    })
    this.joined = true
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    this.topics = new Set(topics)
    if (!this.joined) return
    this.broker.write(`changing the subscription in ${this.where}`, () => {
      this.s.setTopics.run(JSON.stringify([...this.topics]), this.group, this.memberId)
      this.s.bump.run(this.group)
    })
    await this.settle()
  }

  /**
   * Reconciles until this member owns its whole target (the others may first
   * have to let go), through the shared retry: a try that leaves partitions held
   * elsewhere fails, the next waits for the group to change (or 100 ms, for a
   * heartbeat going stale), with no backoff on top, for a session timeout + 5 s
   * (then the heartbeat takes over). Rejects with the listener's error if
   * onAssign fails: a worker whose state cannot be loaded must not start.
   */
  private async settle(): Promise<void> {
    this.settling = true
    this.assignFailure = undefined
    try {
      await retryPromise(
        async (attempt) => {
          if (attempt > 0) await this.broker.waitForChange(100).promise
          const done = await this.reconcileSoon()
          // Set by the reconciliation just awaited (TypeScript cannot see that).
          const failure = this.assignFailure as AssignFailed | undefined
          if (failure) throw failure.error
          if (!done && !this.closed) throw NOT_SETTLED
        },
        {
          retry: (e) => e === NOT_SETTLED && !this.closed,
          forMs: this.broker.sessionTimeoutMs + 5_000,
          baseMs: 0,
          maxMs: 0,
        },
      ).catch((e: unknown) => {
        if (e !== NOT_SETTLED) throw e
        if (!this.closed)
          this.broker.logger?.warn(
            `${this.where}: some partitions are still held by another member; waiting in the background`,
          )
      })
    } finally {
      this.settling = false
      this.assignFailure = undefined
    }
  }

  private onChange(): void {
    if (this.closed || !this.joined) return
    let v: number | undefined
    try {
      v = this.s.version.get(this.group)
    } catch {
      return
    }
    if (v !== this.lastVersion) void this.reconcileSoon()
  }

  /** Serialised: one reconciliation at a time, and one more if something changed meanwhile. */
  private reconcileSoon(): Promise<boolean> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      let done = false
      do {
        this.again = false
        if (this.closed) return false
        try {
          done = await this.reconcile()
        } catch (e) {
          done = false
          if (e instanceof AssignFailed) {
            if (this.settling) this.assignFailure = e
            else
              this.broker.logger?.error(
                `${this.where}: could not take ${fmtTps(e.tps)} (given back; retried at the next heartbeat): ${e.message}`,
              )
            break
          }
          this.broker.logger?.warn(
            `${this.where}: rebalance step failed: ${e instanceof Error ? e.message : e}`,
          )
        }
      } while (this.again && !this.closed)
      return done
    })().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  /** Live members in join order; removes the dead ones (and says so). Call inside a write transaction. */
  private liveMembers(now: number): MemberRow[] {
    const live: MemberRow[] = []
    let purged = false
    for (const m of this.s.members.all(this.group)) {
      const dead =
        m.member_id !== this.memberId &&
        ((m.host === HOST && m.pid !== process.pid && !pidAlive(m.pid)) ||
          now - m.heartbeat_at > this.broker.sessionTimeoutMs)
      if (!dead) {
        live.push(m)
        continue
      }
      this.s.remove.run(this.group, m.member_id)
      purged = true
      this.broker.logger?.warn(
        `${this.where}: member ${m.member_id} (pid ${m.pid}) is gone; its partitions are taken over`,
      )
    }
    if (purged) this.s.bump.run(this.group)
    return live.sort((a, b) => a.joined_at - b.joined_at || (a.member_id < b.member_id ? -1 : 1))
  }

  /** Partition p of each subscribed topic goes to subscriber p mod n: co-partitioned, the same on every member. */
  private target(live: readonly MemberRow[]): TopicPartition[] {
    const subs = live.map((m) => ({ id: m.member_id, topics: new Set(JSON.parse(m.topics) as string[]) }))
    const out: TopicPartition[] = []
    for (const topic of [...this.topics].sort()) {
      const info = this.broker.log.topic(topic)
      if (!info) continue
      const subscribers = subs.filter((m) => m.topics.has(topic))
      const me = subscribers.findIndex((m) => m.id === this.memberId)
      if (me < 0) continue
      for (let p = me; p < info.partitions; p += subscribers.length) out.push({ topic, partition: p })
    }
    return out
  }

  private saveOwned(): void {
    const owned: Owned = this.owned.map((tp) => [tp.topic, tp.partition])
    this.s.setOwned.run(JSON.stringify(owned), this.group, this.memberId)
    this.s.bump.run(this.group)
  }

  /** One round: heartbeat, give up what moved away, claim what is ours and free. True if the target is met. */
  private async reconcile(): Promise<boolean> {
    const view = this.broker.write(
      `heartbeat in ${this.where}`,
      () => {
        const now = Date.now()
        if (this.s.heartbeat.run(now, this.group, this.memberId).changes === 0) return undefined
        return new Set(this.target(this.liveMembers(now)).map(keyOf))
      },
      false,
    )
    if (view === undefined) {
      await this.lost()
      return false
    }
    const revoke = this.owned.filter((tp) => !view.has(keyOf(tp)))
    if (revoke.length) {
      await this.options.listener.onRevoke(revoke).catch((e: unknown) => {
        this.broker.logger?.error(`${this.where}: onRevoke failed: ${e instanceof Error ? e.message : e}`)
      })
      const gone = new Set(revoke.map(keyOf))
      this.owned = this.owned.filter((tp) => !gone.has(keyOf(tp)))
      for (const k of gone) {
        this.positions.delete(k)
        this.paused.delete(k)
      }
      this.broker.write(`releasing partitions in ${this.where}`, () => this.saveOwned())
    }
    if (this.closed) return false
    const round = this.broker.write(
      `claiming partitions in ${this.where}`,
      () => {
        const live = this.liveMembers(Date.now())
        const target = this.target(live)
        const taken = new Set<string>()
        for (const m of live)
          if (m.member_id !== this.memberId) for (const tp of parseOwned(m.owned)) taken.add(keyOf(tp))
        const have = new Set(this.owned.map(keyOf))
        const claim = target.filter((tp) => !have.has(keyOf(tp)) && !taken.has(keyOf(tp)))
        if (claim.length) {
          const committed = new Map(
            this.broker.log.committed(this.group, claim).map((c) => [keyOf(c), c.offset] as const),
          )
          for (const tp of claim) {
            const k = keyOf(tp)
            const start =
              committed.get(k) ??
              (this.options.autoOffsetReset === 'latest'
                ? this.broker.log.endOffset(tp.topic, tp.partition)
                : this.broker.log.beginningOffset(tp.topic, tp.partition))
            this.positions.set(k, start)
            this.pending.add(k)
          }
          this.owned = [...this.owned, ...claim]
          this.saveOwned()
        }
        const mine = new Set(this.owned.map(keyOf))
        return {
          claim,
          done: target.every((tp) => mine.has(keyOf(tp))),
          version: this.s.version.get(this.group) ?? 0,
        }
      },
      false,
    )
    this.lastVersion = round.version
    if (round.claim.length) {
      this.broker.notify()
      try {
        await this.options.listener.onAssign(round.claim)
      } catch (e) {
        // Never fetch a partition whose state the listener could not load: give it back.
        this.giveBack(round.claim)
        throw new AssignFailed(round.claim, e)
      } finally {
        for (const tp of round.claim) this.pending.delete(keyOf(tp))
        this.wake?.('change')
      }
    }
    return round.done
  }

  /** Drops partitions this member claimed but could not take; the next round claims them again. */
  private giveBack(tps: readonly TopicPartition[]): void {
    const gone = new Set(tps.map(keyOf))
    this.owned = this.owned.filter((tp) => !gone.has(keyOf(tp)))
    for (const k of gone) {
      this.positions.delete(k)
      this.paused.delete(k)
    }
    try {
      this.broker.write(`giving back partitions in ${this.where}`, () => this.saveOwned())
    } catch {
      // Still listed as ours in the file: only we would claim them (they are our target) and we
      // no longer fetch them; the next successful round rewrites the list.
    }
  }

  /** Our row is gone: another member thought we were dead and took over. Let go of everything, then rejoin. */
  private async lost(): Promise<void> {
    this.broker.logger?.warn(
      `${this.where}: member ${this.memberId} was removed (heartbeat too old); rejoining`,
    )
    const held = this.owned
    this.owned = []
    this.positions.clear()
    this.pending.clear()
    if (held.length) await this.options.listener.onRevoke(held).catch(() => {})
    if (!this.closed) this.join()
  }

  // -- fetching -------------------------------------------------------------------------

  fetch(options: FetchOptions): Promise<RecordBatch[]> {
    if (this.closed) return Promise.resolve([])
    return this.broker.longPoll(this, () => this.collect(options.maxRecords), options.maxWaitMs)
  }

  private collect(max: number): RecordBatch[] {
    const out: RecordBatch[] = []
    const list = this.owned
    const n = list.length
    if (n === 0) return out
    // Start at a different partition each time so a busy one cannot starve the rest.
    const first = this.rr++ % n
    let budget = max
    for (let i = 0; i < n && budget > 0; i++) {
      const tp = list[(first + i) % n]!
      const k = keyOf(tp)
      if (this.paused.has(k) || this.pending.has(k)) continue
      const pos = this.positions.get(k)
      if (pos === undefined) continue
      const { records, next } = this.broker.log.readNext(tp.topic, tp.partition, pos, budget)
      this.positions.set(k, next)
      if (records.length === 0) continue
      budget -= records.length
      out.push({ topic: tp.topic, partition: tp.partition, records })
    }
    return out
  }

  pause(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.paused.add(keyOf(tp))
  }

  resume(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.paused.delete(keyOf(tp))
    if (tps.length) this.wake?.('change')
  }

  seek(tpo: TopicPartitionOffset): void {
    this.positions.set(keyOf(tpo), tpo.offset)
  }

  /**
   * The offset the next fetch of an assigned partition starts at. It moves past
   * records deleted by retention or compaction, so a caller comparing it with
   * the end offset sees that it is caught up even when the tail is gone.
   */
  position(tp: TopicPartition): number | undefined {
    return this.positions.get(keyOf(tp))
  }

  assignment(): readonly TopicPartition[] {
    return this.owned
  }

  /** Fenced: only partitions this member owns in the file can be committed (a removed member owns none). */
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.left) throw new BrokerError(`commit on a closed consumer (${this.where})`, false)
    if (!offsets.length) return
    this.broker.write(
      `committing offsets in ${this.where}`,
      () => {
        const owned = this.s.owned.get(this.group, this.memberId)
        if (owned === undefined)
          throw new BrokerError(
            `${this.where}: member ${this.memberId} is no longer in the group (its partitions were taken over); offsets not committed`,
            false,
          )
        const mine = new Set(parseOwned(owned).map(keyOf))
        const foreign = offsets.find((o) => !mine.has(keyOf(o)))
        if (foreign)
          throw new BrokerError(
            `${this.where}: partition ${foreign.topic}[${foreign.partition}] is not assigned to member ${this.memberId}; offsets not committed`,
            false,
          )
        this.broker.log.commitOffsets(this.group, offsets)
      },
      false,
    )
  }

  async committed(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.broker.run(`reading committed offsets of ${this.where}`, () =>
      this.broker.log.committed(this.group, tps),
    )
  }

  async members(): Promise<readonly GroupMember[]> {
    return this.broker.run(`listing members of ${this.where}`, () => {
      const now = Date.now()
      return this.s.members
        .all(this.group)
        .filter((m) => now - m.heartbeat_at <= this.broker.sessionTimeoutMs)
        .sort((a, b) => a.joined_at - b.joined_at || (a.member_id < b.member_id ? -1 : 1))
        .map((m) => ({ memberId: m.member_id, metadata: m.metadata, assignment: parseOwned(m.owned) }))
    })
  }

  wakeup(): void {
    this.wake?.('wakeup')
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    this.unsubscribe?.()
    this.wakeup()
    await this.running?.catch(() => {})
    const held = this.owned
    if (held.length) await this.options.listener.onRevoke(held).catch(() => {})
    this.owned = []
    this.left = true
    if (this.joined && !this.broker.closed) {
      try {
        this.broker.write(`leaving ${this.where}`, () => {
          this.s.remove.run(this.group, this.memberId)
          this.s.bump.run(this.group)
        })
      } catch (e) {
        this.broker.logger?.warn(`${this.where}: leaving failed: ${e instanceof Error ? e.message : e}`)
      }
    }
    this.broker.forget(this)
  }
}
