/**
 * The Sensor port: what a running worker tells observers (Faust's sensors).
 * A snapshot of its counters, read when someone asks (/metrics, /agents,
 * /topics), and hooks for what happens between two reads (latency samples,
 * commits, rebalances, recoveries, crashes). Observers subscribe; the worker
 * calls the hooks only while someone is subscribed.
 */
import type { TopicPartition } from './index.ts'

export type WorkerState = 'starting' | 'recovering' | 'running' | 'stopping' | 'stopped'

/** Where a table recovery is: rows read from the store, then changelog records replayed. */
export interface RecoveryProgress {
  readonly table: string
  readonly partitions: readonly number[]
  readonly phase: 'store' | 'changelog'
  /** Rows loaded from the local store so far. */
  readonly storeRows: number
  /** Changelog records replayed so far, of how many. */
  readonly changelogDone: number
  readonly changelogTotal: number
  readonly startedAt: number
}

export interface TopicStats {
  readonly name: string
  /** Undefined for a topic the app does not declare (a changelog, the replies, a dead-letter topic). */
  readonly partitions: number | undefined
  /** Records fetched by this worker. */
  readonly messagesIn: number
  /** Records sent and acknowledged. */
  readonly messagesOut: number
}

export interface AgentStats {
  readonly name: string
  /** Messages the handler took from its streams. */
  readonly consumed: number
  /** Values the handler yielded (to its sinks, answering asks). */
  readonly yielded: number
  readonly restarts: number
  readonly state: 'running' | 'stopped' | 'failed'
  /** Set when the agent stopped by itself: why, and the record it stopped at. */
  readonly stopped?: AgentStopped
}

/** An agent that stopped by itself (restarting cannot help): the record stays uncommitted. */
export interface AgentStopped {
  readonly reason: string
  readonly topic?: string
  readonly partition?: number
  readonly offset?: number
}

export interface TableStats {
  readonly name: string
  /** The table's partition count, undefined until its first write binds it. */
  readonly partitions: number | undefined
  /** The partitions this worker holds: those it owns and, for a global table, those it follows. */
  readonly held: readonly number[]
  /** The partitions this worker owns (writes, and answers queries for). */
  readonly owned: readonly number[]
  /** A global table's partitions other workers own, kept current here from their changelogs. */
  readonly followed: readonly number[]
  readonly rows: number
  /** Rows set or deleted since start. */
  readonly writes: number
}

/** A handler holding one record longer than stallTimeout. */
export interface StallInfo {
  readonly agent: string
  /** `agent` or `agent#index`. */
  readonly instance: string
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly heldMs: number
}

export interface StatsSnapshot {
  readonly state: WorkerState
  readonly topics: readonly TopicStats[]
  readonly agents: readonly AgentStats[]
  readonly tables: readonly TableStats[]
  readonly commits: {
    readonly count: number
    readonly failures: number
    readonly totalMs: number
    readonly lastMs: number
  }
  readonly recoveries: { readonly count: number; readonly records: number; readonly ms: number }
  /** The recovery in progress, if any. */
  readonly recovering: RecoveryProgress | undefined
  /** Stalls (stallTimeout): those now, and how many were reported per agent since start. */
  readonly stalls?: {
    readonly current: readonly StallInfo[]
    readonly total: Readonly<Record<string, number>>
  }
}

export interface PartitionLag extends TopicPartition {
  /** The committed offset (next to process). */
  readonly position: number
  /** The log's end offset. */
  readonly end: number
  readonly lag: number
}

export interface SensorHooks {
  /** Time an agent spent on one value (handler took it → asked for the next), sampled. */
  onLatency?(agent: string, seconds: number): void
  onCommit?(ms: number, ok: boolean): void
  onRebalance?(kind: 'assigned' | 'revoked', partitions: readonly TopicPartition[]): void
  onRecovery?(progress: RecoveryProgress | undefined): void
  onAgentCrash?(agent: string, error: unknown): void
}

export interface Sensor {
  snapshot(): StatsSnapshot
  /** Consumer lag per assigned source partition (asks the broker for end offsets). */
  lag(): Promise<PartitionLag[]>
  /** Calls `hooks` from now on; returns the unsubscribe function. */
  subscribe(hooks: SensorHooks): () => void
}
