/**
 * GET /agents, GET /topics and GET /tables: what the worker runs, with live
 * counters from its sensor, as JSON lists. The static columns match the CLI's
 * `agents`/`topics`/`tables --json` rows so the two views of one app read the same.
 */
import type { AgentDef, AnySchema, OnInvalid, TableDef, TopicDef, WorkerView } from '@stream-app/core'

const schemaName = (s: AnySchema): string => {
  const tag = s.ast._tag
  return tag === 'Objects' ? 'Struct' : tag
}

export interface AgentInfo {
  readonly name: string
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
}

export interface TopicInfo {
  readonly name: string
  readonly partitions: number
  readonly key: string
  readonly value: string
  readonly codec: string
  readonly onInvalid: OnInvalid
  readonly agents: readonly string[]
  readonly messagesIn: number
  readonly messagesOut: number
}

export interface TableInfo {
  readonly name: string
  readonly key: string
  readonly value: string
  readonly global: boolean
  readonly windowed: boolean
  /** The table's partition count; null until its first write binds it. */
  readonly partitions: number | null
  /** The partitions this worker holds. */
  readonly held: readonly number[]
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
    }
  })
}

export function listTopics(view: WorkerView): TopicInfo[] {
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
      rows: s?.rows ?? 0,
      writes: s?.writes ?? 0,
      recovering: snap.recovering?.table === d.name,
    }
  })
}
