/**
 * GET /agents, GET /topics and GET /tables: what the worker runs, with live
 * counters from its sensor, as JSON lists. The static columns match the CLI's
 * `agents`/`topics`/`tables --json` rows so the two views of one app read the same.
 */
import type {
  AgentDef,
  AgentStopped,
  AnySchema,
  OnInvalid,
  TableDef,
  TopicDef,
  TopicReplication,
  WorkerView,
} from '@stream-app/core'

const REPLICATION_WAIT_MS = 3_000

const schemaName = (s: AnySchema): string => {
  const tag = s.ast._tag
  return tag === 'Objects' ? 'Struct' : tag
}

export interface AgentInfo {
  readonly name: string
  /** What it is for (its `describe`), when the app says. */
  readonly describe?: string
  readonly from: readonly string[]
  readonly sink: readonly string[]
  readonly concurrency: number
  readonly supervisor: string
  readonly restarts: number
  readonly state: string
  /** Messages the handler took. */
  readonly consumed: number
  /** Values the handler yielded. */
  readonly yielded: number
  /** Why and where it stopped by itself, if it did. */
  readonly stopped?: AgentStopped
}

export interface TopicInfo {
  readonly name: string
  /** What it is for (its `describe`), when the app says. */
  readonly describe?: string
  readonly partitions: number
  readonly key: string
  readonly value: string
  readonly codec: string
  readonly onInvalid: OnInvalid
  readonly agents: readonly string[]
  readonly messagesIn: number
  readonly messagesOut: number
  readonly internal: false
  /** As the broker reports it (null: the topic is not there); 1 on memory:// and sqlite://. */
  readonly replicationFactor: number | null
  /** In-sync replicas of the weakest partition; null where it does not apply (memory, sqlite) or unknown. */
  readonly inSyncReplicas: number | null
}

/** A topic the worker created for itself (changelog, repartition, replies, leader, dead letters, members). */
export interface InternalTopicInfo {
  readonly name: string
  readonly partitions: number
  readonly internal: true
  readonly replicationFactor: number
  readonly inSyncReplicas: number | null
}

export interface TableInfo {
  readonly name: string
  /** What it is for (its `describe`), when the app says. */
  readonly describe?: string
  readonly key: string
  readonly value: string
  readonly global: boolean
  readonly windowed: boolean
  /** The table's partition count; null until its first write binds it. */
  readonly partitions: number | null
  /** The partitions this worker holds: owned ones and, for a global table, every other one too. */
  readonly held: readonly number[]
  /** The partitions this worker owns: it writes them and answers their keys' queries. */
  readonly owned: readonly number[]
  /** A global table's partitions owned elsewhere, kept current here by tailing their changelogs. */
  readonly followed: readonly number[]
  /** Rows held in memory here (one per key and window). */
  readonly rows: number
  /** Rows set or deleted here since start. */
  readonly writes: number
  /** True while this worker recovers the table (GET /health tells how far). */
  readonly recovering: boolean
}

export function listAgents(view: WorkerView): AgentInfo[] {
  const stats = new Map(view.sensor.snapshot().agents.map((a) => [a.name, a]))
  return (Object.values(view.def.agents) as AgentDef[]).map((a) => {
    const s = stats.get(a.name)
    return {
      name: a.name,
      from: [...a.from],
      sink: [...a.sink],
      concurrency: a.concurrency,
      supervisor: a.supervisor,
      restarts: s?.restarts ?? 0,
      state: s?.state ?? 'stopped',
      consumed: s?.consumed ?? 0,
      yielded: s?.yielded ?? 0,
      ...(s?.stopped ? { stopped: s.stopped } : {}),
      ...(a.describe !== undefined ? { describe: a.describe } : {}),
    }
  })
}

/**
 * Declared topics with their counters, then the internal ones that exist, each with its
 * replication as the broker reports it. A broker that does not answer leaves the
 * replication columns null (the list still answers while Kafka is away).
 */
export async function listTopics(view: WorkerView): Promise<(TopicInfo | InternalTopicInfo)[]> {
  const declared = declaredTopics(view)
  const internal = view.internalTopics()
  // A broker that is away must not hold the list up for its whole admin timeout.
  let timer: ReturnType<typeof setTimeout> | undefined
  const away = new Promise<readonly TopicReplication[]>((resolve) => {
    timer = setTimeout(() => resolve([]), REPLICATION_WAIT_MS)
  })
  const rows = await Promise.race([
    view.replication([...declared.map((t) => t.name), ...internal]).catch(() => []),
    away,
  ]).finally(() => clearTimeout(timer))
  const replication = new Map(rows.map((r) => [r.name, r]))
  return [
    ...declared.map((t) => ({
      ...t,
      internal: false as const,
      replicationFactor: replication.get(t.name)?.replicationFactor ?? null,
      inSyncReplicas: replication.get(t.name)?.inSyncReplicas ?? null,
    })),
    ...internal.flatMap((name) => {
      const r = replication.get(name)
      return r
        ? [
            {
              name,
              partitions: r.partitions,
              internal: true as const,
              replicationFactor: r.replicationFactor,
              inSyncReplicas: r.inSyncReplicas,
            },
          ]
        : []
    }),
  ]
}

function declaredTopics(view: WorkerView) {
  const consumers = new Map<string, string[]>()
  for (const a of Object.values(view.def.agents) as AgentDef[])
    for (const f of a.from) consumers.set(f, [...(consumers.get(f) ?? []), a.name])
  const defs = view.def.topics as Readonly<Record<string, TopicDef>>
  return view.sensor
    .snapshot()
    .topics.filter((t) => defs[t.name])
    .map((t) => {
      const d = defs[t.name]!
      return {
        name: t.name,
        partitions: t.partitions ?? 0,
        key: schemaName(d.keySchema),
        value: schemaName(d.valueSchema),
        codec: d.codec,
        onInvalid: d.onInvalid,
        agents: consumers.get(t.name) ?? [],
        messagesIn: t.messagesIn,
        messagesOut: t.messagesOut,
        ...(d.describe !== undefined ? { describe: d.describe } : {}),
      }
    })
}

export function listTables(view: WorkerView): TableInfo[] {
  const snap = view.sensor.snapshot()
  const stats = new Map(snap.tables.map((t) => [t.name, t]))
  return (Object.values(view.def.tables) as TableDef[]).map((d) => {
    const s = stats.get(d.name)
    return {
      name: d.name,
      key: schemaName(d.keySchema),
      value: schemaName(d.valueSchema),
      global: d.global === true,
      windowed: d.window !== undefined,
      partitions: s?.partitions ?? d.partitions ?? null,
      held: s?.held ?? [],
      owned: s?.owned ?? [],
      followed: s?.followed ?? [],
      rows: s?.rows ?? 0,
      writes: s?.writes ?? 0,
      recovering: snap.recovering?.table === d.name,
      ...(d.describe !== undefined ? { describe: d.describe } : {}),
    }
  })
}
