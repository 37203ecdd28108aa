/**
 * The inspection port (ports/inspect.ts) over a worker's parts: each answer
 * is read from the part that owns it when asked, and only plain values leave,
 * so no caller keeps a runtime object alive or writes through one.
 */
import type { TopicInspection, WorkerInspection } from '../ports/inspect.ts'
import type { AgentRunner } from './internal/instance.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'

/** What inspection reads; undefined before the worker has its parts (every answer is then undefined). */
export interface InspectedParts {
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly agents: ReadonlyMap<string, AgentRunner>
}

function topicInspection(t: TopicRuntime): TopicInspection {
  return {
    name: t.name,
    partitions: t.partitions,
    codec: t.def.codec,
    stringKeys: t.stringKeys,
    check(value, options = {}) {
      const { key, partition } = options
      const rec = t.record(value, key, 0, undefined, partition)
      const decided = partition !== undefined || (key !== undefined && key !== null)
      return { partition: decided ? rec.partition : undefined }
    },
  }
}

export function makeInspection(parts: () => InspectedParts | undefined): WorkerInspection {
  return {
    topic(name) {
      const t = parts()?.topics.get(name)
      // A repartition topic is the runtime's own (its name and serde can change): not inspected.
      return t && t.def.repartition !== true ? topicInspection(t) : undefined
    },
    tableSize: (name) => parts()?.tables.get(name)?.rows.size,
    agentConsumed: (name) => parts()?.agents.get(name)?.consumed,
  }
}
