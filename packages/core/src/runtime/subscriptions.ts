/**
 * Queues created at run time (groupBy, through): the topic is resolved and
 * ensured, the agent gets its own queue of it, and the group consumer follows
 * it. Once per agent and topic.
 */
import type { TopicDef } from '../definition/definition.ts'
import type { ResolvedConfig } from '../definition/types.ts'
import type { Broker } from '../ports/index.ts'
import { sourceQueue } from './agents.ts'
import type { Assignment } from './assignment.ts'
import { declareTopics } from './declare.ts'
import type { SourceQueue } from './internal/source.ts'
import { TopicRuntime } from './internal/topics.ts'
import type { Sinks } from './sinks.ts'
import { internalSpec, type Topology } from './topology.ts'
import type { ConsumerSlot } from './worker-state.ts'

export interface SubscriptionDeps {
  readonly topology: Topology
  readonly broker: Broker
  readonly config: ResolvedConfig
  /** Where the new queue is registered, and the topics the group consumer follows (the new one too). */
  readonly assignment: Assignment
  /** The group consumer, subscribed to the new topic. */
  readonly consumer: ConsumerSlot
  /** Where records of the new topic that fail to decode go. */
  readonly sinks: Pick<Sinks, 'invalid'>
  /** Records per queue before the fetch pauses its topic (streamBufferMaxsize). */
  readonly capacity: number
}

export function dynamicSubscriptions(
  d: SubscriptionDeps,
): (agent: string, def: TopicDef) => Promise<SourceQueue> {
  const made = new Map<string, Promise<SourceQueue>>()
  const { topics, maxSourcePartitions } = d.topology
  return (agent, def) => {
    const k = `${agent}\u0000${def.name}`
    let p = made.get(k)
    if (!p) {
      p = (async () => {
        let rt = topics.get(def.name)
        if (!rt) {
          const existing = def.partitions === undefined ? await d.broker.partitions(def.name) : undefined
          rt = new TopicRuntime(def, def.partitions ?? existing ?? maxSourcePartitions)
          topics.set(def.name, rt)
        }
        // A repartition topic (groupBy) is the app's own; a topic passed to through() is the user's.
        await declareTopics(d.broker, d.config, [
          def.repartition === true ? internalSpec(rt.spec, d.config.replicationFactor) : rt.spec,
        ])
        const q = sourceQueue(agent, [rt], d.assignment, d.sinks.invalid, d.capacity)
        if (d.assignment.follow(def.name)) await d.consumer.current.subscribe([...d.assignment.subscribed])
        return q
      })()
      made.set(k, p)
    }
    return p
  }
}
