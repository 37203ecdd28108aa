/**
 * declareTopics (issue 23): with `declareTopics: false` the worker creates no
 * topic, its own internal ones included (clusters where topics are provisioned
 * by an operator or a GitOps tool); every topic it would have created must
 * exist, and those that do not fail the start with one error naming them all,
 * so one round trip to the operator fixes the lot.
 */
import { ConfigError } from '../definition/errors.ts'
import type { ResolvedConfig } from '../definition/types.ts'
import type { Broker, TopicSpec } from '../ports/index.ts'

/** Ensures the topics exist: creates them, or (declareTopics false) checks that they do. */
export async function declareTopics(
  broker: Broker,
  config: ResolvedConfig,
  specs: readonly TopicSpec[],
): Promise<void> {
  if (config.production.declareTopics) return broker.ensureTopics(specs)
  const counts = await Promise.all(specs.map((s) => broker.partitions(s.name)))
  const missing = specs.filter((_, i) => counts[i] === undefined)
  const wrong = specs.filter((s, i) => counts[i] !== undefined && counts[i] !== s.partitions)
  if (missing.length === 0 && wrong.length === 0) return
  const parts: string[] = []
  if (missing.length)
    parts.push(
      `missing topic${missing.length > 1 ? 's' : ''}: ${missing.map((s) => `${s.name} (${s.partitions} partitions${s.compacted ? ', compacted' : ''})`).join(', ')}`,
    )
  if (wrong.length)
    parts.push(
      `partition count differs: ${wrong.map((s) => `${s.name} has ${counts[specs.indexOf(s)]}, expected ${s.partitions}`).join(', ')}`,
    )
  throw new ConfigError(
    `declareTopics is false and the broker's topics do not match; create them first — ${parts.join('; ')}`,
  )
}
