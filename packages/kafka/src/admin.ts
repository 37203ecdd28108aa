/**
 * Topic administration and offsets over librdkafka's admin API: create missing
 * topics (with retention, compaction and extra configs), refuse a partition
 * count mismatch, and read watermarks. Freshly created partitions briefly
 * answer "not leader", and a client whose metadata has not caught up with a
 * topic another client just created answers "no such entry", a broker that
 * just restarted answers "fenced leader epoch", and an unreachable one makes
 * librdkafka answer offset -1001 without an error; those answers are retried
 * (until a deadline) instead of surfacing. How many replicas a topic gets is
 * replication.ts's business.
 */
import {
  BrokerError,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicReplication,
  type TopicSpec,
} from '@stream-app/core'
import { fmtTps, retryPromise, tpKey } from '@stream-app/core/runtime'
import {
  type ClientContext,
  Code,
  call,
  errorCode,
  IsolationLevel,
  OffsetSpec,
  type RdAdmin,
} from './client.ts'
import { Replication } from './replication.ts'

const ADMIN_TIMEOUT_MS = 15_000
const RETRY_FOR_MS = 15_000
/**
 * One ListOffsets round: it answers in milliseconds, or not at all when the leader librdkafka
 * has cached is a broker that died; then the metadata is refreshed and the round retried.
 */
const LIST_OFFSETS_TIMEOUT_MS = 5_000

interface TopicInfo {
  readonly name: string
  readonly partitions: readonly {
    partition: number
    leader: unknown
    replicas?: readonly unknown[]
    isr?: readonly unknown[]
  }[]
  readonly error?: { code: number; message: string }
}

interface OffsetResult {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly error?: { code: number; message: string }
}

const TRANSIENT = new Set<number>([
  Code.NOT_LEADER,
  Code.LEADER_NOT_AVAILABLE,
  Code.UNKNOWN_TOPIC_OR_PART,
  Code.NOENT,
  // A broker that just restarted has a newer leader epoch than our metadata.
  Code.FENCED_LEADER_EPOCH,
  Code.UNKNOWN_LEADER_EPOCH,
])
/** The shared backoff's bounds for these retries: answers come within milliseconds once ready. */
const RETRY = { baseMs: 50, maxMs: 1_000, forMs: RETRY_FOR_MS } as const

/** A try that found a transient answer: retried until RETRY_FOR_MS, then `final()` is what fails. */
class Again {
  constructor(readonly final: () => Error) {}
}
/** New topics whose partitions have no leader yet. */
const NO_LEADERS = new Error('some partitions have no leader yet')

export interface AdminOptions {
  /** The app's replicationFactor for internal topics (undefined: the cluster's default). */
  readonly replicationFactor?: number | undefined
  /** How many brokers the cluster has (metadata). */
  readonly brokerCount?: () => Promise<number>
  /** False: never create a topic to learn something (the replication probe). */
  readonly createTopics?: boolean
}

export class Admin {
  private readonly replicas: Replication

  constructor(
    private readonly admin: RdAdmin,
    private readonly ctx: ClientContext,
    /**
     * Refreshes the client's metadata of a topic. ListOffsets goes to the leader with the
     * leader epoch librdkafka has cached, and after a broker restart it keeps sending the
     * old one (FENCED_LEADER_EPOCH) until something refreshes the metadata.
     */
    private readonly refreshMetadata: (topic: string) => Promise<void> = async () => {},
    options: AdminOptions = {},
  ) {
    this.replicas = new Replication({
      ctx,
      replicationFactor: options.replicationFactor,
      mayProbe: options.createTopics ?? true,
      brokerCount: options.brokerCount ?? (async () => 1),
      createTopic: (topic, partitions, rf) =>
        call((cb) =>
          this.admin.createTopic(
            { topic, num_partitions: partitions, replication_factor: rf },
            ADMIN_TIMEOUT_MS,
            cb,
          ),
        ),
      deleteTopic: (topic) => call((cb) => this.admin.deleteTopic(topic, ADMIN_TIMEOUT_MS, cb)),
      replicasOf: async (topic) => (await this.describe([topic])).get(topic)?.partitions[0]?.replicas?.length,
    })
  }

  /** How each existing topic is replicated, as the brokers report it (in-sync: its weakest partition's). */
  async replication(names: readonly string[]): Promise<TopicReplication[]> {
    const d = await this.describe(names)
    return names.flatMap((name) => {
      const t = d.get(name)
      if (!t) return []
      const ps = t.partitions
      return [
        {
          name,
          partitions: ps.length,
          replicationFactor: Math.max(0, ...ps.map((p) => p.replicas?.length ?? 0)),
          inSyncReplicas: ps.length ? Math.min(...ps.map((p) => p.isr?.length ?? 0)) : 0,
        },
      ]
    })
  }

  /** Topic descriptions by name; missing topics are absent from the map. */
  async describe(names: readonly string[]): Promise<Map<string, TopicInfo>> {
    const out = new Map<string, TopicInfo>()
    if (!names.length) return out
    let infos: TopicInfo[]
    try {
      infos = await call<TopicInfo[]>((cb) =>
        this.admin.describeTopics([...names], { timeout: ADMIN_TIMEOUT_MS }, cb),
      )
    } catch (e) {
      throw this.ctx.error(`describing topics ${names.map((n) => `'${n}'`).join(', ')}`, e)
    }
    for (const t of infos) {
      if (t.error && t.error.code === Code.UNKNOWN_TOPIC_OR_PART) continue
      if (t.error) throw this.ctx.error(`describing topic '${t.name}'`, t.error)
      out.set(t.name, t)
    }
    return out
  }

  async partitions(topic: string): Promise<number | undefined> {
    return (await this.describe([topic])).get(topic)?.partitions.length
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    const wanted = new Map<string, TopicSpec>()
    for (const s of specs) {
      const prev = wanted.get(s.name)
      if (prev && prev.partitions !== s.partitions)
        throw new BrokerError(
          `topic '${s.name}' is declared twice, with ${prev.partitions} and ${s.partitions} partitions`,
          false,
        )
      wanted.set(s.name, s)
    }
    const existing = await this.describe([...wanted.keys()])
    const fresh: string[] = []
    for (const spec of wanted.values()) {
      const have = existing.get(spec.name)
      if (have) {
        this.checkCount(spec, have.partitions.length)
        await this.replicas.checkExisting(spec, have.partitions[0]?.replicas?.length)
        continue
      }
      const { replicationFactor, config } = await this.replicas.forCreate(spec)
      try {
        await call((cb) =>
          this.admin.createTopic(
            {
              topic: spec.name,
              num_partitions: spec.partitions,
              replication_factor: replicationFactor,
              config: { ...config, ...topicConfig(spec) },
            },
            ADMIN_TIMEOUT_MS,
            cb,
          ),
        )
        fresh.push(spec.name)
      } catch (e) {
        if (errorCode(e) !== Code.TOPIC_ALREADY_EXISTS)
          throw this.ctx.error(`creating topic '${spec.name}'`, e)
        // Created concurrently by another worker: it still has to match, and be usable before we go on.
        const now = await this.partitions(spec.name)
        if (now !== undefined) this.checkCount(spec, now)
        fresh.push(spec.name)
      }
    }
    if (fresh.length) await this.waitForLeaders(fresh)
  }

  private checkCount(spec: TopicSpec, have: number): void {
    if (have !== spec.partitions)
      throw new BrokerError(
        `topic '${spec.name}' exists on Kafka with ${have} partitions, but ${spec.partitions} are declared; ` +
          `declare partitions: ${have} or use a new topic`,
        false,
      )
  }

  /** New topics are usable once every partition has a leader; producing earlier only adds latency. */
  private async waitForLeaders(names: readonly string[]): Promise<void> {
    await retryPromise(
      async () => {
        const d = await this.describe(names)
        if (!names.every((n) => d.get(n)?.partitions.every((p) => p.leader))) throw NO_LEADERS
      },
      { ...RETRY, retry: (e) => e === NO_LEADERS },
    ).catch((e: unknown) => {
      // Still leaderless at the deadline: go on (producing waits for them); describe's failures surface.
      if (e !== NO_LEADERS) throw e
    })
  }

  endOffsets(tps: readonly TopicPartition[], readCommitted = false): Promise<TopicPartitionOffset[]> {
    return this.listOffsets(tps, OffsetSpec.LATEST, readCommitted)
  }

  beginningOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return this.listOffsets(tps, OffsetSpec.EARLIEST, false)
  }

  private async listOffsets(
    tps: readonly TopicPartition[],
    spec: InstanceType<typeof OffsetSpec>,
    readCommitted: boolean,
  ): Promise<TopicPartitionOffset[]> {
    if (!tps.length) return []
    const found = new Map<string, number>()
    let todo = [...tps]
    /** Topics whose metadata a retry refreshes first (see refreshMetadata). */
    let stale: string[] = []
    const round = async (): Promise<void> => {
      await Promise.all([...new Set(stale)].map((t) => this.refreshMetadata(t).catch(() => {})))
      let res: OffsetResult[]
      try {
        res = await call<OffsetResult[]>((cb) =>
          this.admin.listOffsets(
            todo.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: spec })),
            {
              timeout: LIST_OFFSETS_TIMEOUT_MS,
              isolationLevel: readCommitted ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED,
            },
            cb,
          ),
        )
      } catch (e) {
        const asked = todo
        const final = () => this.ctx.error(`reading offsets of ${fmtTps(asked)}`, e)
        // The whole request can answer a transient error too (a leader epoch our metadata has
        // not seen yet, right after another client created the topic): retry it like one result.
        // A request that timed out went to a leader that is gone (a broker killed): its partitions'
        // new leaders are named only by fresh metadata, which the next try asks for first.
        const code = (e as { code?: number }).code
        if (code === undefined || !(TRANSIENT.has(code) || code === Code.TIMED_OUT)) throw final()
        stale = asked.map((tp) => tp.topic)
        throw new Again(final)
      }
      const again: OffsetResult[] = []
      for (const r of res) {
        if (!r.error && r.offset >= 0) found.set(tpKey(r.topic, r.partition), r.offset)
        else if (!r.error || TRANSIENT.has(r.error.code)) again.push(r)
        else throw this.ctx.error(`reading offsets of ${r.topic}[${r.partition}]`, r.error)
      }
      if (!again.length) return
      // No offset and no error: the leader librdkafka has cached did not answer (a broker that
      // died; its partitions have new leaders that only fresh metadata names).
      stale = again.map((r) => r.topic)
      todo = again
      const first = again[0]!
      throw new Again(() =>
        first.error
          ? this.ctx.error(`reading offsets of ${first.topic}[${first.partition}]`, first.error)
          : // librdkafka answers -1001 ("invalid") without an error when no broker answered in time.
            new BrokerError(
              `reading offsets of ${first.topic}[${first.partition}]: Kafka at ${this.ctx.bootstrap} gave no offset (unreachable?)`,
              true,
            ),
      )
    }
    await retryPromise(round, { ...RETRY, retry: (e) => e instanceof Again }).catch((e: unknown) => {
      throw e instanceof Again ? e.final() : e
    })
    return tps.map((tp) => ({
      topic: tp.topic,
      partition: tp.partition,
      offset: found.get(tpKey(tp.topic, tp.partition)) ?? 0,
    }))
  }
}

function topicConfig(spec: TopicSpec): Record<string, string> {
  const c: Record<string, string> = {}
  if (spec.compacted) c['cleanup.policy'] = 'compact'
  if (spec.retentionMs !== undefined) c['retention.ms'] = String(spec.retentionMs)
  return { ...c, ...spec.config }
}
