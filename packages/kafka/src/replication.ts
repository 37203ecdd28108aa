/**
 * Replication of the topics stream-app creates on Kafka: the factor a topic
 * gets (its own `replicas`, else the app's replicationFactor for internal
 * topics, else the cluster's default, as Kafka Streams' -1), capped by the
 * brokers the cluster has; min.insync.replicas = RF-1 for changelogs; and a
 * warning for an existing topic replicated less than that (never altered).
 *
 * The low-level admin API cannot read broker configs, so the cluster's default
 * factor, when a number is needed (a changelog's min ISR, the check of an
 * existing topic), is learnt once by creating a probe topic with factor -1 (the
 * broker's default) and counting its replicas. A single broker needs no probe,
 * and an app that may create no topic (declareTopics false) gets none.
 */
import type { TopicSpec } from '@stream-app/core'
import { retryPromise } from '@stream-app/core/runtime'
import type { ClientContext } from './client.ts'

export interface ReplicationDeps {
  readonly ctx: ClientContext
  /** The app's replicationFactor (undefined: the cluster's default). */
  readonly replicationFactor: number | undefined
  /** False (declareTopics false): the cluster's default is never learnt by creating a probe topic. */
  readonly mayProbe: boolean
  brokerCount(): Promise<number>
  createTopic(name: string, partitions: number, replicationFactor: number): Promise<void>
  deleteTopic(name: string): Promise<void>
  /** The replica count of a topic's first partition, undefined while it is not visible. */
  replicasOf(name: string): Promise<number | undefined>
}

const BROKERS_TTL_MS = 30_000
const PROBE_WAIT_MS = 15_000
const NOT_SHOWN = new Error('the probe topic did not show up')

export class Replication {
  private clusterDefault: Promise<number> | undefined
  private brokers: { at: number; count: Promise<number> } | undefined
  private readonly warned = new Set<string>()

  constructor(private readonly d: ReplicationDeps) {}

  /** The factor asked for explicitly (undefined: the cluster's default). */
  private asked(spec: TopicSpec): number | undefined {
    return spec.replicas ?? (spec.internal ? this.d.replicationFactor : undefined)
  }

  private brokerCount(): Promise<number> {
    const now = Date.now()
    if (!this.brokers || now - this.brokers.at > BROKERS_TTL_MS) {
      const count = this.d.brokerCount()
      count.catch(() => {
        this.brokers = undefined
      })
      this.brokers = { at: now, count }
    }
    return this.brokers.count
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.d.ctx.log?.warn(message)
  }

  /** A factor capped by the brokers there are, with a warning naming the topic. */
  private async capped(name: string, rf: number): Promise<number> {
    const brokers = await this.brokerCount()
    if (rf <= brokers || brokers < 1) return rf
    this.warnOnce(
      `cap:${name}`,
      `topic '${name}': replication factor ${rf} is more than the ${brokers} broker(s) of Kafka at ${this.d.ctx.bootstrap}; it gets ${brokers}`,
    )
    return brokers
  }

  /** The replication factor to create a topic with (-1: the broker's default) and the configs it implies. */
  async forCreate(spec: TopicSpec): Promise<{ replicationFactor: number; config: Record<string, string> }> {
    const asked = this.asked(spec)
    const rf = asked === undefined ? undefined : await this.capped(spec.name, asked)
    if (!spec.changelog || spec.config?.['min.insync.replicas'] !== undefined)
      return { replicationFactor: rf ?? -1, config: {} }
    // A changelog write must survive the loss of its leader: held by all replicas but one.
    const effective = rf ?? (await this.defaultFactor())
    return {
      replicationFactor: rf ?? -1,
      config: { 'min.insync.replicas': String(Math.max(1, effective - 1)) },
    }
  }

  /** Warns (once) when an existing topic has fewer replicas than it would be created with now. */
  async checkExisting(spec: TopicSpec, replicas: number | undefined): Promise<void> {
    if (replicas === undefined) return
    const asked = this.asked(spec)
    // A declared topic without `replicas` may well be someone else's, replicated on purpose.
    if (asked === undefined && !spec.internal) return
    // Only a comparison with the cluster's default: not worth a topic where none may be created.
    if (asked === undefined && !this.d.mayProbe && this.clusterDefault === undefined) return
    const want = Math.min(asked ?? (await this.defaultFactor()), await this.brokerCount())
    if (replicas >= want) return
    const source =
      asked === undefined
        ? "the cluster's default.replication.factor"
        : spec.replicas !== undefined
          ? `its declared replicas`
          : 'the replicationFactor of the app'
    this.warnOnce(
      `low:${spec.name}`,
      `topic '${spec.name}' has replication factor ${replicas}, less than the ${want} of ${source}: ` +
        `it was created earlier and is left as is (losing one broker can lose or stop it; ` +
        `raise it with kafka-reassign-partitions)`,
    )
  }

  /** The cluster's default.replication.factor, capped by its brokers (asked once). */
  defaultFactor(): Promise<number> {
    this.clusterDefault ??= this.probe()
    return this.clusterDefault
  }

  private async probe(): Promise<number> {
    const brokers = await this.brokerCount()
    if (brokers <= 1) return 1
    const name = `__stream-app-rf-probe-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`
    this.d.ctx.log?.info(
      `learning the default replication factor of Kafka at ${this.d.ctx.bootstrap} from a probe topic (${name}, deleted after)`,
    )
    try {
      await this.d.createTopic(name, 1, -1)
      return await retryPromise(
        async () => {
          const n = await this.d.replicasOf(name)
          if (n !== undefined && n > 0) return n
          throw NOT_SHOWN
        },
        { retry: (e) => e === NOT_SHOWN, forMs: PROBE_WAIT_MS, baseMs: 50, maxMs: 1_000 },
      )
    } catch (e) {
      const guess = Math.min(3, brokers)
      this.d.ctx.log?.warn(
        `could not learn the default replication factor of Kafka at ${this.d.ctx.bootstrap} (${(e as Error).message}); assuming ${guess}`,
      )
      return guess
    } finally {
      await this.d.deleteTopic(name).catch(() => {})
    }
  }
}
