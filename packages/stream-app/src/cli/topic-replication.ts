/**
 * `stream-app topics`: the declared topics and the internal ones the app
 * creates for itself (`internal: true`), each with its replication. On kafka://
 * the numbers are what the brokers report (a topic not created yet shows null);
 * memory:// and sqlite:// keep one copy of everything: replication 1, in-sync
 * not applicable (null).
 */
import {
  type AppDefinition,
  internalTopicNames,
  membersTopicName,
  messageOf,
  resolveConfig,
  type TopicReplication,
} from '@stream-app/core'
import { loadKafka } from '../adapters.ts'
import { describeApp } from './describe.ts'

export async function topicRows(
  def: AppDefinition,
  broker: string | undefined,
  warn: (line: string) => void,
): Promise<Record<string, unknown>[]> {
  const config = resolveConfig(def.config, broker ? { broker } : {})
  const declared = describeApp(def).topics
  const kafka = config.broker.startsWith('kafka://')
  const internal = [...internalTopicNames(def), ...(kafka ? [membersTopicName(def)] : [])]
  let reported: Map<string, TopicReplication> | undefined
  if (kafka) {
    try {
      const b = await (await loadKafka()).openKafkaBroker({
        url: config.broker,
        brokerOptions: (config.brokerOptions ?? {}) as Record<string, unknown>,
        log: { debug() {}, info() {}, warn() {}, error() {} },
        clientId: `${config.id}-cli`,
      })
      try {
        reported = new Map(
          (await b.replication!([...declared.map((t) => t.name), ...internal])).map((r) => [r.name, r]),
        )
      } finally {
        await b.close()
      }
    } catch (e) {
      warn(`stream-app: replication not shown: ${messageOf(e)}`)
    }
  }
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
}
