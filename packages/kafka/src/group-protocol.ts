/**
 * Which consumer group protocol a group consumer speaks, and the librdkafka
 * settings that go with it. Tables are co-partitioned with their sources, so
 * whatever the protocol, partition p of equally sized topics must go to one
 * member: the `range` assignor does that, on the broker under the
 * next-generation protocol (KIP-848, `group.protocol: 'consumer'`, the default
 * here: incremental, only partitions that change owner stop) and in the client
 * under the classic one (eager: every rebalance revokes everything, for
 * brokers older than Kafka 4.0). Settings the chosen protocol rejects or
 * ignores are refused at start with one line, never a hang or a silent no-op.
 */
import { ConfigError } from '@stream-app/core'

export type GroupProtocol = 'consumer' | 'classic'

/** Settings librdkafka rejects under the consumer protocol: the broker owns them there. */
const BROKER_OWNED: Record<string, string> = {
  'session.timeout.ms': 'group.consumer.session.timeout.ms',
  'heartbeat.interval.ms': 'group.consumer.heartbeat.interval.ms',
  'partition.assignment.strategy': 'group.remote.assignor',
}

/** Session settings of the classic protocol: a killed member's partitions wait this long. */
const CLASSIC_DEFAULTS = { 'session.timeout.ms': 10_000, 'heartbeat.interval.ms': 1_000 }

/**
 * The group settings for a consumer, from the user's broker options (which
 * win where the protocol allows) and this worker's stable id, if it has one
 * (static membership, KIP-345: a member back within the session timeout gets
 * its partitions again without a rebalance).
 */
export function groupSettings(
  config: Readonly<Record<string, unknown>>,
  instanceId: string | undefined,
): { protocol: GroupProtocol; settings: Record<string, unknown> } {
  const raw = config['group.protocol'] ?? 'consumer'
  if (raw !== 'consumer' && raw !== 'classic')
    throw new ConfigError(
      `brokerOptions 'group.protocol' must be 'consumer' (Kafka 4.0 or later) or 'classic', got ${JSON.stringify(raw)}`,
    )
  const protocol: GroupProtocol = raw
  const settings: Record<string, unknown> = { 'group.protocol': protocol }
  if (instanceId !== undefined && config['group.instance.id'] === undefined)
    settings['group.instance.id'] = instanceId
  if (protocol === 'consumer') {
    for (const [key, instead] of Object.entries(BROKER_OWNED))
      if (config[key] !== undefined)
        throw new ConfigError(
          `brokerOptions '${key}' is not used by the consumer group protocol (KIP-848): the broker sets it ('${instead}'); remove it, or set 'group.protocol': 'classic' for brokers older than Kafka 4.0`,
        )
    const assignor = config['group.remote.assignor'] ?? 'range'
    if (assignor !== 'range')
      throw new ConfigError(
        `brokerOptions 'group.remote.assignor' must be 'range' (tables are co-partitioned with their source topics), got ${JSON.stringify(assignor)}`,
      )
    settings['group.remote.assignor'] = 'range'
    return { protocol, settings }
  }
  const strategy = config['partition.assignment.strategy'] ?? 'range'
  if (strategy !== 'range')
    throw new ConfigError(
      `brokerOptions 'partition.assignment.strategy' must be 'range' (tables are co-partitioned with their source topics; cooperative-sticky is not), got ${JSON.stringify(strategy)}; for incremental rebalances use the default 'group.protocol': 'consumer'`,
    )
  if (config['group.remote.assignor'] !== undefined)
    throw new ConfigError(
      `brokerOptions 'group.remote.assignor' is used by the consumer group protocol only, and 'group.protocol' is 'classic'`,
    )
  // The user's session settings win; these only fill in what is not set.
  const defaults = Object.fromEntries(
    Object.entries(CLASSIC_DEFAULTS).filter(([k]) => config[k] === undefined),
  )
  return { protocol, settings: { ...settings, ...defaults, 'partition.assignment.strategy': 'range' } }
}

/**
 * How long after an assignment change another step of the same rebalance may
 * still come. Under KIP-848 a move is a revoke on one member and, at its next
 * heartbeat, an assign on another: about the broker's
 * `group.consumer.heartbeat.interval.ms` (5 s by default) apart. The client
 * cannot read that broker setting, so a deployment that lowers it says so in
 * STREAM_APP_REBALANCE_SETTLE_MS. Classic rebalances are one barrier.
 */
export function rebalanceSettleMs(protocol: GroupProtocol): number | undefined {
  if (protocol === 'classic') return undefined
  const env = Number(process.env.STREAM_APP_REBALANCE_SETTLE_MS)
  return Number.isFinite(env) && env > 0 ? env : 5_000
}
