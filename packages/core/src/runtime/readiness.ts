/**
 * Readiness a deploy can trust: a worker is ready when it runs and its group
 * is stable. The group state is derived from the rebalance callbacks this
 * worker gets (the same path on every broker), read on the worker's clock so
 * the test clock drives it; nothing here runs on a timer.
 */
import type { TopicPartition } from '../ports/index.ts'
import type { RecoveryProgress, WorkerState } from '../ports/sensor.ts'
import type { GroupState, Readiness } from '../ports/view.ts'
import type { ConsumerSlot } from './worker-state.ts'

/**
 * How long after the last assignment change (or joining) the group counts as
 * stable. With incremental rebalancing there is no global barrier a member
 * sees: a move is a revoke on one member and an assign on another, possibly a
 * heartbeat or two apart, and a member may get several steps of one
 * rebalance. "Stable" therefore means "no change here for this long": long
 * enough to span the steps of one rebalance (the embedded brokers move within
 * a change notification; the Kafka consumer heartbeats every second under the
 * classic protocol), short enough that a rolling deploy does not wait much for
 * it. A group consumer whose steps can be further apart (KIP-848: the
 * broker's heartbeat interval) asks for longer with rebalanceSettleMs.
 */
export const GROUP_SETTLE_MS = 1500

type Change = { readonly kind: 'assigned' | 'revoked'; readonly partitions: readonly TopicPartition[] }

/** When this worker last saw its group change: written by the rebalance path only. */
export class GroupWatch {
  private changedAt: number | undefined
  private last: (Change & { readonly at: number }) | undefined

  constructor(
    /** The worker's clock. */
    private readonly time: { now(): number },
    /** The group consumer, which may ask for a longer settle period than GROUP_SETTLE_MS. */
    private readonly consumer?: ConsumerSlot,
  ) {}

  /** The settle period. */
  settleMs(): number {
    return Math.max(GROUP_SETTLE_MS, this.consumer?.current.rebalanceSettleMs ?? 0)
  }

  private now(): number {
    return this.time.now()
  }

  /** Before the worker joins, its group is about to change (partitions move onto it): not stable. */
  private joined = false

  /** The worker is joining: that moves partitions too, so the settle period starts now. */
  joining(): void {
    this.joined = true
    this.changedAt = this.now()
  }

  /** An assignment change reached this worker. */
  rebalanced(kind: Change['kind'], partitions: readonly TopicPartition[]): void {
    const at = this.now()
    this.changedAt = at
    this.last = { kind, partitions, at }
  }

  state(): GroupState {
    return !this.joined || (this.changedAt !== undefined && this.now() - this.changedAt < this.settleMs())
      ? 'rebalancing'
      : 'stable'
  }

  lastChange(): Readiness['lastRebalance'] {
    const l = this.last
    return l && { kind: l.kind, partitions: l.partitions, ago: Math.max(0, this.now() - l.at) }
  }
}

const NOT_RUNNING: Record<Exclude<WorkerState, 'running'>, string> = {
  starting: 'the worker is starting',
  recovering: 'the worker is joining its group and recovering its tables',
  stopping: 'the worker is stopping',
  stopped: 'the worker has stopped',
}

/** Joins the worker state, the group state and what is in progress into one answer. */
export function readiness(o: {
  readonly state: WorkerState
  readonly group: GroupWatch | undefined
  readonly partitions: readonly TopicPartition[]
  readonly recovery: RecoveryProgress | undefined
}): Readiness {
  // A worker that is not a group member (a CLI command's client) has no group to wait for.
  const group = o.group?.state() ?? 'stable'
  const lastRebalance = o.group?.lastChange()
  const reason =
    o.state !== 'running'
      ? o.recovery
        ? `the worker is recovering table ${o.recovery.table} (partitions ${o.recovery.partitions.join(',')})`
        : NOT_RUNNING[o.state]
      : group === 'rebalancing'
        ? `the group is rebalancing (no assignment change for ${o.group?.settleMs() ?? GROUP_SETTLE_MS} ms yet)`
        : undefined
  return {
    ready: reason === undefined,
    state: o.state,
    group,
    reason,
    partitions: o.partitions,
    lastRebalance,
    recovery: o.recovery,
  }
}
