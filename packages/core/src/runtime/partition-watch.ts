/**
 * Source topics that gain partitions while the app runs. A key goes to the
 * partition of its hash modulo the topic's count, and a table is partitioned
 * like the topics its agents consume, so more partitions would send existing
 * keys to partitions whose table rows live elsewhere: counts would silently
 * restart from zero. Like Kafka Streams, stream-app refuses: a periodic check
 * of every source topic's count stops the worker with one line naming the
 * tables whose keys would move. It runs far more often than the consumer
 * refreshes its metadata (librdkafka: every 5 minutes); an assignment that
 * holds a new partition anyway (another worker's consumer saw it first, or the
 * group rebalanced after one stopped) is refused the same way before anything
 * of it is processed. A topic no table depends on may grow: that is only logged.
 */
import * as Effect from 'effect/Effect'
import * as Schedule from 'effect/Schedule'
import type { Logger } from '../definition/types.ts'
import type { Broker, TopicPartition } from '../ports/index.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'
import { isRunning, type WorkerStatus } from './worker-state.ts'

/** How often source topics' partition counts are read (a describe per check, cheap). */
export const PARTITION_CHECK_MS = 10_000

export interface PartitionWatchDeps {
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly sources: ReadonlySet<string>
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly broker: Broker
  readonly log: Logger
  /** Checked only while it runs; stopped (saying why) when a partition count changes. */
  readonly worker: WorkerStatus
}

export class PartitionWatch {
  private readonly logged = new Set<string>()

  constructor(private readonly d: PartitionWatchDeps) {}

  /** Tables partitioned like `topic` (the count they were bound with is the topic's). */
  private dependents(topic: string): TableRuntime[] {
    const n = this.d.topics.get(topic)?.partitions
    return [...this.d.tables.values()].filter((t) => !t.def.global && t.partitions === n)
  }

  /** Refuses (stops the worker) or logs a source topic that now has `now` partitions. */
  private grew(topic: string, now: number): boolean {
    const was = this.d.topics.get(topic)?.partitions
    if (was === undefined || now === was) return false
    const tables = this.dependents(topic)
    if (!tables.length) {
      if (!this.logged.has(topic))
        this.d.log.warn(
          `source topic '${topic}' has ${now} partitions now, not ${was}; no table is partitioned like it, ` +
            `but this worker keeps sending to its first ${was} (restart the workers to use all ${now})`,
        )
      this.logged.add(topic)
      return false
    }
    this.d.worker.crash(
      `source topic '${topic}' went from ${was} to ${now} partitions while the app runs: the keys of ` +
        `table${tables.length > 1 ? 's' : ''} ${tables.map((t) => `'${t.def.name}'`).join(', ')} (partitioned ` +
        `like it) would move to other partitions, so stream-app refuses to go on rather than re-hash them; ` +
        `give the topic back its ${was} partitions (re-create it) or start a new app id whose tables are rebuilt`,
    )
    return true
  }

  /**
   * False (and the worker stopping) when an assignment holds a partition beyond a source topic's
   * count: the group saw new partitions before the periodic check did.
   */
  async admits(tps: readonly TopicPartition[]): Promise<boolean> {
    for (const tp of tps) {
      const known = this.d.topics.get(tp.topic)?.partitions
      if (known === undefined || tp.partition < known || !this.d.sources.has(tp.topic)) continue
      const highest = Math.max(...tps.filter((x) => x.topic === tp.topic).map((x) => x.partition)) + 1
      const now = (await this.d.broker.partitions(tp.topic).catch(() => undefined)) ?? highest
      if (this.grew(tp.topic, Math.max(now, highest))) return false
    }
    return true
  }

  /** Reads every source topic's partition count once. */
  async check(): Promise<void> {
    for (const topic of this.d.sources) {
      if (!isRunning(this.d.worker)) return
      // A broker that is away is someone else's to report; the next check tries again.
      const now = await this.d.broker.partitions(topic).catch(() => undefined)
      if (now !== undefined && this.grew(topic, now)) return
    }
  }

  /** The checking fiber: every PARTITION_CHECK_MS until interrupted. */
  readonly loop: Effect.Effect<void> = Effect.sleep(PARTITION_CHECK_MS).pipe(
    Effect.andThen(
      Effect.repeat(
        Effect.promise(() => this.check()),
        Schedule.fixed(PARTITION_CHECK_MS),
      ),
    ),
    Effect.asVoid,
  )
}
