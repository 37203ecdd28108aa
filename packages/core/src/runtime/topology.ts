/**
 * What a definition becomes on a broker: every topic with its partition count
 * (declared, else what the broker already has, else the default), every table
 * with its own (the count of the agents' source topics when they agree, else
 * an existing changelog's, else bound by its first write), the topic specs to
 * ensure (dead-letter topics, changelogs, replies, the leader topic), and a
 * table's changelog created when it is bound at run time.
 */
import type { AppDefinition, TopicDef } from '../definition/definition.ts'
import { messageOf } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type { Broker, Store, TopicSpec } from '../ports/index.ts'
import { declareTopics } from './declare.ts'
import { wireTableJoins } from './internal/table-join.ts'
import { type TableHost, TableRuntime, type WindowEvents } from './internal/tables.ts'
import { TopicRuntime } from './internal/topics.ts'
import { membersTopicName } from './internal-topics.ts'
import type { Timekeeper } from './time.ts'

export interface Topology {
  readonly topics: Map<string, TopicRuntime>
  readonly tables: Map<string, TableRuntime>
  /** Topics agents consume. */
  readonly sources: ReadonlySet<string>
  /** The most partitions of any source topic: repartition topics default to it. */
  readonly maxSourcePartitions: number
  readonly leaderTopic: string
  /** Changelogs of tables bound at run time, being created. */
  readonly creating: Set<Promise<void>>
}

/**
 * A topic stream-app creates for itself: replicated as the app's replicationFactor says
 * (absent: the broker's default), which is what replication of internal topics means.
 */
export function internalSpec(spec: TopicSpec, replicationFactor: number | undefined): TopicSpec {
  return {
    ...spec,
    internal: true,
    ...(replicationFactor !== undefined && spec.replicas === undefined
      ? { replicas: replicationFactor }
      : {}),
  }
}

export function changelogSpec(t: TableRuntime, replicationFactor: number | undefined): TopicSpec {
  const w = t.def.window
  return {
    name: t.changelog,
    partitions: t.partitions!,
    compacted: true,
    internal: true,
    changelog: true,
    ...(replicationFactor !== undefined ? { replicas: replicationFactor } : {}),
    ...(w?.expiresMs !== undefined
      ? { retentionMs: w.expiresMs + w.sizeMs + 86_400_000, config: { 'cleanup.policy': 'compact,delete' } }
      : {}),
  }
}

export interface TopologyDeps {
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly broker: Broker
  readonly store: Store
  readonly time: Timekeeper
  readonly log: Logger
  /** Called when a table is bound at run time (the worker decides which of its partitions it holds). */
  readonly onBound: (t: TableRuntime) => void
  /** Where closed windows' final values and late events go. */
  readonly windows: WindowEvents
  readonly replyTopic: string
}

/** Resolves partition counts, creates the runtimes, and ensures every topic exists. */
export async function resolveTopology(d: TopologyDeps): Promise<Topology> {
  const { def, config, broker } = d
  const id = def.config.id
  const topics = new Map<string, TopicRuntime>()
  const tables = new Map<string, TableRuntime>()
  const creating = new Set<Promise<void>>()
  const leaderTopic = `${id}-__leader`
  const specs: TopicSpec[] = []
  const rf = config.replicationFactor
  for (const t of Object.values(def.topics) as TopicDef[]) {
    const existing = t.partitions === undefined ? await broker.partitions(t.name) : undefined
    const rt = new TopicRuntime(t, t.partitions ?? existing ?? config.topicPartitions)
    topics.set(t.name, rt)
    specs.push(rt.spec)
    if (t.onInvalid === 'dead-letter')
      specs.push(internalSpec({ name: `${t.name}.dead-letter`, partitions: rt.partitions }, rf))
  }
  const sources = new Set(Object.values(def.agents).flatMap((a) => a.from))
  // Late events of a table with onLate 'dead-letter' go to their source topic's dead-letter topic.
  if (Object.values(def.tables).some((t) => t.onLate === 'dead-letter'))
    for (const s of sources) {
      const dlq = `${s}.dead-letter`
      if (!specs.some((x) => x.name === dlq))
        specs.push(internalSpec({ name: dlq, partitions: topics.get(s)!.partitions }, rf))
    }
  let maxSourcePartitions = 1
  for (const s of sources) maxSourcePartitions = Math.max(maxSourcePartitions, topics.get(s)!.partitions)
  // A table is partitioned like the topics its agents consume. When they all have one count that
  // is it; when they differ, an existing changelog says, else the first write binds the table.
  const counts = new Set([...sources].map((s) => topics.get(s)!.partitions))
  const common = sources.size === 0 ? config.topicPartitions : counts.size === 1 ? [...counts][0] : undefined
  const host: TableHost = {
    topicPartitions: (topic) => topics.get(topic)?.partitions,
    defaultPartitions: config.topicPartitions,
    log: d.log,
    windows: d.windows,
    bound: (t) => {
      d.onBound(t)
      const p = declareTopics(broker, config, [changelogSpec(t, rf)]).catch((e) => {
        d.log.error(`creating the changelog of table '${t.name}' failed: ${messageOf(e)}`)
        throw e
      })
      creating.add(p)
      p.then(
        () => creating.delete(p),
        () => {},
      )
    },
  }
  for (const t of Object.values(def.tables)) {
    const changelog = `${id}-${t.name}-changelog`
    // A joined table is partitioned like its left table (its sources are co-partitioned).
    const joinedLike = t.join !== undefined ? tables.get(t.join.left)?.partitions : undefined
    const partitions = t.partitions ?? joinedLike ?? common ?? (await broker.partitions(changelog))
    // Stored under the changelog's name (<app>-<table>-changelog): unique even in a store shared by apps.
    const rt = new TableRuntime(t, id, partitions, d.store.table(changelog), d.time, host)
    tables.set(t.name, rt)
    // Key routing follows the source topics' producers when they agree on a partitioner (issue 23).
    const partitioners = new Set([...sources].map((s) => topics.get(s)!.def.partitioner ?? 'murmur2'))
    if (partitioners.size === 1) rt.partitioner = [...partitioners][0]!
    if (partitions !== undefined) specs.push(changelogSpec(rt, rf))
    else
      d.log.info(
        `table '${t.name}': partitioned like the topic of the agent that writes it first (the source topics differ: ${[
          ...sources,
        ]
          .map((s) => `${s} ${topics.get(s)!.partitions}`)
          .join(', ')})`,
      )
  }
  specs.push(internalSpec({ name: d.replyTopic, partitions: 1, retentionMs: 3_600_000 }, rf))
  specs.push(internalSpec({ name: leaderTopic, partitions: 1 }, rf))
  // Kafka's member registry is created by the consumer as it joins: checked with the rest when nothing may be created.
  if (!config.production.declareTopics && broker.replication)
    specs.push(internalSpec({ name: membersTopicName(def), partitions: 1, compacted: true }, rf))
  await declareTopics(broker, config, specs)
  wireTableJoins(tables)
  return { topics, tables, sources, maxSourcePartitions, leaderTopic, creating }
}
