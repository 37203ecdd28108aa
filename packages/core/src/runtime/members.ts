/**
 * Who holds what across the group, for answering table keys on any worker:
 * the members' web URLs (their group metadata) and assignments, learnt after
 * every rebalance, and the holder of a table key's partition.
 */
import { randomUUID } from 'node:crypto'
import { messageOf } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { Broker, TopicPartition } from '../ports/index.ts'
import type { KeyOwner } from '../ports/view.ts'
import type { Assignment } from './assignment.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { Timekeeper } from './time.ts'
import type { ConsumerSlot } from './worker-state.ts'

export interface Member {
  /** The worker's own id (from its group metadata): stable for its lifetime, the same on every member. */
  readonly id: string
  /** Its web URL, when its web server runs. */
  readonly url: string | undefined
  readonly assignment: readonly TopicPartition[]
}

/** Membership settles just after a rebalance: it is asked again this much later, so late joiners are seen. */
const SETTLE_MS = 1000
/** A key whose holder is not known asks for the membership again, at most this often. */
const ASK_AGAIN_MS = 500
/** How long a query waits for that answer before it says the holder is unknown. */
const ASK_WAIT_MS = 1000

/**
 * The group's members as last learnt, and this worker's id among them. Its
 * one writer is Members (which loads it); the Replicator reads it, so it
 * exists before both.
 */
export class Membership {
  /** Written by Members after each load. */
  members: readonly Member[] = []
  /**
   * This worker's id in the group metadata: its stable worker id when it has
   * one, so the group's order (which standby duties follow) survives restarts.
   */
  readonly selfId: string

  constructor(workerId: string | undefined) {
    this.selfId = workerId ?? randomUUID()
  }

  /** The members, ordered by id (the same order on every worker). */
  list(): readonly Member[] {
    return [...this.members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }
}

export interface MembersDeps {
  readonly consumer: ConsumerSlot
  readonly assignment: Assignment
  readonly broker: Broker
  readonly log: Logger
  /** This worker's advertised URL (a member never forwards to itself). */
  readonly worker: { readonly advertisedUrl: string | undefined }
  readonly time: Timekeeper
  /** Where the membership learnt is kept. */
  readonly membership: Membership
  /** Worked out again after each refresh of the membership (standby replicas follow it). */
  readonly replicas: { update(): Promise<void> }
}

export class Members {
  private again: (() => void) | undefined

  constructor(private readonly d: MembersDeps) {}

  get selfId(): string {
    return this.d.membership.selfId
  }

  /** A rebalance reached this worker: who holds what changed. */
  rebalanced(): void {
    this.refresh()
  }

  /** Learns the group's membership now and once more shortly after. */
  refresh(): void {
    void this.load()
    this.again?.()
    this.again = this.d.time.after(SETTLE_MS, () => void this.load())
  }

  /** When the membership was last asked for (on the worker's clock). */
  private askedAt = Number.NEGATIVE_INFINITY
  private loading: Promise<void> | undefined

  private load(): Promise<void> {
    this.askedAt = this.d.time.now()
    const run = this.d.consumer.current
      .members()
      .then((members) => {
        const out: Member[] = []
        for (const m of members) {
          let meta: { url?: string | null; id?: string }
          try {
            meta = JSON.parse(m.metadata) as { url?: string | null; id?: string }
          } catch {
            meta = {}
          }
          out.push({ id: meta.id ?? m.memberId, url: meta.url ?? undefined, assignment: m.assignment })
        }
        this.d.membership.members = out
        void this.d.replicas.update()
      })
      .catch((e) => this.d.log.debug(`group members unavailable: ${messageOf(e)}`))
      .finally(() => {
        if (this.loading === run) this.loading = undefined
      })
    this.loading = run
    return run
  }

  close(): void {
    this.again?.()
  }

  /** This worker's group metadata: its id and advertised web URL. */
  metadata(): string {
    return JSON.stringify({ url: this.d.worker.advertisedUrl ?? null, id: this.selfId })
  }

  /** The members as last learnt, ordered by id (the same order on every worker). */
  list(): readonly Member[] {
    return this.d.membership.list()
  }

  /**
   * Where a table key lives: here (or, for a table no worker has bound yet,
   * nowhere), else the URL of the member holding its partition, or unknown
   * while a rebalance settles.
   */
  async ownerOf(t: TableRuntime, key: unknown): Promise<KeyOwner> {
    if (t.partitions === undefined) {
      // Unbound here: bound elsewhere if its changelog exists, else nothing is stored anywhere.
      const n = await this.d.broker.partitions(t.changelog)
      if (n === undefined) return { local: true }
      t.bind(n, `its changelog has ${n}`)
    }
    const partition = t.keyPartition(t.baseKey(key))
    if (t.owned.has(partition)) return { local: true }
    const holder = this.holderOf(t.partitions!, partition)
    if (holder !== undefined) return { local: false, url: holder }
    // Another member's claim can come after both asks that followed this worker's own rebalance
    // (an incremental rebalance calls back only the members whose partitions move): ask again,
    // at most every ASK_AGAIN_MS, rather than answer "unknown" until the next rebalance here.
    const asking =
      this.loading ?? (this.d.time.now() - this.askedAt >= ASK_AGAIN_MS ? this.load() : undefined)
    if (asking !== undefined) {
      // Bounded: with the brokers away the answer may take long, and a query must not hang on it.
      let cancel = () => {}
      await Promise.race([asking, new Promise<void>((r) => (cancel = this.d.time.after(ASK_WAIT_MS, r)))])
      cancel()
    }
    return { local: false, url: this.holderOf(t.partitions!, partition) }
  }

  /** The URL of the member holding partition p of a table of n partitions, as last learnt. */
  private holderOf(n: number, p: number): string | undefined {
    const self = this.d.worker.advertisedUrl
    for (const m of this.d.membership.members)
      if (m.url !== undefined && m.url !== self && this.d.assignment.memberHolds(m.assignment, n, p))
        return m.url
    return undefined
  }
}
