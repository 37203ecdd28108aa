/**
 * GET /agents and GET /topics: what the worker runs, with live counters, as
 * JSON lists. The static columns match the CLI's `agents`/`topics --json`
 * rows so the two views of one app read the same.
 */
import type { AnySchema, OnInvalid, WorkerRuntime } from '@stream-app/core'

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

export function listAgents(rt: WorkerRuntime): AgentInfo[] {
  return [...rt.agents].map(([name, a]) => ({
    name,
    from: [...a.def.from],
    sink: [...a.def.sink],
    concurrency: a.def.concurrency,
    supervisor: a.def.supervisor,
    restarts: a.restarts,
    state: a.state,
    consumed: a.consumed,
    yielded: a.yielded,
  }))
}

export function listTopics(rt: WorkerRuntime): TopicInfo[] {
  const consumers = new Map<string, string[]>()
  for (const a of rt.agents.values())
    for (const f of a.def.from) consumers.set(f, [...(consumers.get(f) ?? []), a.def.name])
  return [...rt.topics].map(([name, t]) => ({
    name,
    partitions: t.partitions,
    key: schemaName(t.def.keySchema),
    value: schemaName(t.def.valueSchema),
    codec: t.def.codec,
    onInvalid: t.def.onInvalid,
    agents: consumers.get(name) ?? [],
    messagesIn: rt.stats.messagesIn.get(name) ?? 0,
    messagesOut: rt.outbox.perTopic.get(name) ?? 0,
  }))
}
