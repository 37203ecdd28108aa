/**
 * The worker's Sensor: the counters the runtime keeps (records in per topic,
 * commits, recoveries) and a snapshot joining them with what the agents,
 * tables and outbox count themselves; the hooks observers subscribed to. The
 * hot path never calls a hook unless someone is subscribed.
 */
import type { Broker } from '../ports/index.ts'
import type {
  AgentStats,
  PartitionLag,
  RecoveryProgress,
  Sensor,
  SensorHooks,
  StatsSnapshot,
} from '../ports/sensor.ts'
import { tpKey } from '../ports/topic-partitions.ts'
import type { Assignment } from './assignment.ts'
import type { AgentRunner } from './internal/instance.ts'
import type { Outbox } from './internal/outbox.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'
import type { StallWatch } from './stall.ts'
import type { WorkerStatus } from './worker-state.ts'

export interface SensorSources {
  readonly worker: Pick<WorkerStatus, 'state'>
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly tables: ReadonlyMap<string, TableRuntime>
  /** The agents' runners (filled as the worker builds them). */
  readonly agents: ReadonlyMap<string, AgentRunner>
  readonly outbox: Outbox
  readonly assignment: Assignment
  readonly broker: Broker
  /** Present when stall detection is on (stall.ts). */
  readonly stallWatch: StallWatch | undefined
}

/** What each agent counted. */
export function agentStats(runners: ReadonlyMap<string, AgentRunner>): AgentStats[] {
  return [...runners.values()].map((r) => ({
    name: r.def.name,
    consumed: r.consumed,
    yielded: r.yielded,
    restarts: r.restarts,
    state: r.state,
    ...(r.stoppedBy ? { stopped: r.stoppedBy } : {}),
  }))
}

export class WorkerSensor implements Sensor {
  readonly messagesIn = new Map<string, number>()
  readonly commits = { count: 0, failures: 0, totalMs: 0, lastMs: 0 }
  readonly recoveries = { count: 0, records: 0, ms: 0 }
  recovering: RecoveryProgress | undefined
  /** The subscribed hooks (undefined while nobody is subscribed). */
  hooks: SensorHooks[] | undefined
  /** Someone listens to latency samples: agents time every 8th value only then. */
  readonly timing = { on: false }
  constructor(private readonly s: SensorSources) {}

  subscribe(hooks: SensorHooks): () => void {
    this.hooks = [...(this.hooks ?? []), hooks]
    this.timing.on = this.hooks.some((h) => h.onLatency !== undefined)
    return () => {
      const left = (this.hooks ?? []).filter((h) => h !== hooks)
      this.hooks = left.length ? left : undefined
      this.timing.on = left.some((h) => h.onLatency !== undefined)
    }
  }

  fetched(topic: string, n: number): void {
    this.messagesIn.set(topic, (this.messagesIn.get(topic) ?? 0) + n)
  }

  latency(agent: string, seconds: number): void {
    for (const h of this.hooks ?? []) h.onLatency?.(agent, seconds)
  }

  committed(ms: number, ok: boolean): void {
    if (ok) {
      this.commits.count++
      this.commits.totalMs += ms
      this.commits.lastMs = ms
    } else this.commits.failures++
    for (const h of this.hooks ?? []) h.onCommit?.(ms, ok)
  }

  rebalanced(
    kind: 'assigned' | 'revoked',
    partitions: Parameters<NonNullable<SensorHooks['onRebalance']>>[1],
  ) {
    for (const h of this.hooks ?? []) h.onRebalance?.(kind, partitions)
  }

  recovery(progress: RecoveryProgress | undefined, finished?: { records: number; ms: number }): void {
    this.recovering = progress
    if (finished) {
      this.recoveries.count++
      this.recoveries.records += finished.records
      this.recoveries.ms += finished.ms
    }
    for (const h of this.hooks ?? []) h.onRecovery?.(progress)
  }

  crashed(agent: string, error: unknown): void {
    for (const h of this.hooks ?? []) h.onAgentCrash?.(agent, error)
  }

  snapshot(): StatsSnapshot {
    const out = this.s.outbox.perTopic
    const names = new Set([...this.s.topics.keys(), ...out.keys(), ...this.messagesIn.keys()])
    return {
      state: this.s.worker.state,
      topics: [...names].map((name) => ({
        name,
        partitions: this.s.topics.get(name)?.partitions,
        messagesIn: this.messagesIn.get(name) ?? 0,
        messagesOut: out.get(name) ?? 0,
      })),
      agents: agentStats(this.s.agents),
      tables: [...this.s.tables.values()].map((t) => {
        const owned = [...t.owned].sort((a, b) => a - b)
        // A global table holds every partition: those it does not own it follows (tails their changelogs).
        const followed =
          t.global && !t.readOnly && t.partitions !== undefined
            ? Array.from({ length: t.partitions }, (_, p) => p).filter((p) => !t.owned.has(p))
            : []
        return {
          name: t.name,
          partitions: t.partitions,
          held: followed.length ? [...owned, ...followed].sort((a, b) => a - b) : owned,
          owned,
          followed,
          rows: t.rows.size,
          writes: t.writes,
        }
      }),
      commits: { ...this.commits },
      recoveries: { ...this.recoveries },
      recovering: this.recovering,
      ...(this.s.stallWatch
        ? {
            stalls: {
              current: this.s.stallWatch.current(),
              total: Object.fromEntries(this.s.stallWatch.counts),
            },
          }
        : {}),
    }
  }

  /** End offset minus the committed offset, per assigned source partition. */
  async lag(): Promise<PartitionLag[]> {
    const a = this.s.assignment
    const tps = a.sourcePartitions()
    if (!tps.length) return []
    const ends = await this.s.broker.endOffsets(tps)
    return ends.map((e) => {
      const position = a.committed.get(tpKey(e.topic, e.partition)) ?? 0
      return {
        topic: e.topic,
        partition: e.partition,
        position,
        end: e.offset,
        lag: Math.max(0, e.offset - position),
      }
    })
  }
}
