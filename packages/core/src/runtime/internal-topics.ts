/**
 * The names of the topics an app creates for itself, known from its definition
 * alone (the CLI lists them without running it): table changelogs (stream-join
 * buffers are tables too), the reply and leader topics, dead-letter topics, and
 * on Kafka the group's member registry. Repartition topics (groupBy) are named
 * when the agent runs; the worker adds those it made.
 */
import type { AppDefinition } from '../definition/definition.ts'

export function internalTopicNames(def: AppDefinition): string[] {
  const id = def.config.id
  const names = new Set<string>()
  for (const t of Object.values(def.tables)) names.add(`${id}-${t.name}-changelog`)
  names.add(`${id}-__replies`)
  names.add(`${id}-__leader`)
  for (const t of Object.values(def.topics))
    if (t.onInvalid === 'dead-letter') names.add(`${t.name}.dead-letter`)
  if (Object.values(def.tables).some((t) => t.onLate === 'dead-letter'))
    for (const a of Object.values(def.agents)) for (const s of a.from) names.add(`${s}.dead-letter`)
  return [...names]
}

/** The consumer group's member registry (kafka:// only); the group is the app id. */
export const membersTopicName = (def: AppDefinition): string => `${def.config.id}-__members`
