/**
 * `stream-app topics`: the declared topics and the internal ones the app
 * creates for itself (`internal: true`), each with its replication. On kafka://
 * the numbers are what the brokers report (a topic not created yet shows null);
 * memory:// and sqlite:// keep one copy of everything: replication 1, in-sync
 * not applicable (null). The broker is built from its layer (as a worker's
 * is) for this one read, quietly: a broker that cannot be reached is one
 * warning line and the rows without replication.
 */
import type { AppDefinition, ResolvedConfig, TopicReplication } from '@stream-app/core'
import {
  asFailure,
  BrokerService,
  internalTopicNames,
  membersTopicName,
  messageOf,
  resolveConfig,
} from '@stream-app/core/runtime'
import * as Cause from 'effect/Cause'
import * as Effect from 'effect/Effect'
import { brokerFor } from '../adapters.ts'
import { describeApp } from './describe.ts'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** What the brokers report of these topics, on a broker built from its layer for this read only. */
const reportedBy = (
  config: ResolvedConfig,
  names: readonly string[],
): Effect.Effect<Map<string, TopicReplication>, unknown> =>
  Effect.gen(function* () {
    const broker = yield* BrokerService
    const rows = yield* Effect.tryPromise({ try: () => broker.replication!(names), catch: asFailure })
    return new Map(rows.map((r) => [r.name, r]))
  }).pipe(Effect.provide(brokerFor(config, { log: quiet, clientId: `${config.id}-cli` })))

export const topicRows = (
  def: AppDefinition,
  broker: string | undefined,
  warn: (line: string) => void,
): Effect.Effect<Record<string, unknown>[]> =>
  Effect.gen(function* () {
    const config = resolveConfig(def.config, broker ? { broker } : {})
    const declared = describeApp(def).topics
    const kafka = config.broker.startsWith('kafka://')
    const internal = [...internalTopicNames(def), ...(kafka ? [membersTopicName(def)] : [])]
    const reported = kafka
      ? yield* reportedBy(config, [...declared.map((t) => t.name), ...internal]).pipe(
          Effect.catchCause((cause) =>
            Effect.sync(() => {
              warn(`stream-app: replication not shown: ${messageOf(Cause.squash(cause))}`)
              return undefined
            }),
          ),
        )
      : undefined
    const replication = (name: string) =>
      kafka
        ? {
            replicationFactor: reported?.get(name)?.replicationFactor ?? null,
            inSyncReplicas: reported?.get(name)?.inSyncReplicas ?? null,
          }
        : { replicationFactor: 1, inSyncReplicas: null }
    return [
      ...declared.map((t) => ({ ...t, internal: false, ...replication(t.name) })),
      // On Kafka only what exists (a groupBy's repartition topic appears once a worker made it).
      ...internal
        .filter((name) => !kafka || reported === undefined || reported.has(name))
        .map((name) => ({
          name,
          partitions: reported?.get(name)?.partitions ?? null,
          internal: true,
          ...replication(name),
        })),
    ]
  })
