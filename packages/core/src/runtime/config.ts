/**
 * Resolves an app's config: defaults from API.md, the STREAM_APP_BROKER
 * environment variable, and overrides given to start(). The broker is, first
 * found: an override (app.start({ broker }), `--broker`), STREAM_APP_BROKER,
 * the app's config, 'sqlite://' — the environment wins over code, as a
 * twelve-factor app's deployment expects.
 */
import { join } from 'node:path'
import type { AppConfig } from '../definition/definition.ts'
import { toMillis } from '../definition/duration.ts'
import { ConfigError } from '../definition/errors.ts'
import { resolveProduction } from '../definition/production.ts'
import type { ResolvedConfig } from '../definition/types.ts'
import {
  checkWebConfig,
  DEFAULT_BODY_LIMIT,
  parseByteSize,
  resolveWebToken,
} from '../definition/web-config.ts'

export function resolveConfig(config: AppConfig, overrides: Partial<AppConfig> = {}): ResolvedConfig {
  const c = { ...config, ...overrides, web: { ...config.web, ...overrides.web } }
  checkWebConfig(c.web)
  const token = resolveWebToken(config.web, overrides.web)
  const datadir = c.datadir ?? join('.stream-app', c.id)
  const port = c.web.port ?? 6066
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`web.port must be 0-65535, got ${port}`)
  // As for the broker: a deployment's setting (the flag, then the environment) wins over code.
  const workerId = overrides.workerId ?? (process.env.STREAM_APP_WORKER_ID || undefined) ?? config.workerId
  return Object.freeze({
    ...c,
    id: c.id,
    broker: overrides.broker ?? (process.env.STREAM_APP_BROKER || undefined) ?? config.broker ?? 'sqlite://',
    store: c.store ?? 'sqlite://',
    datadir,
    topicPartitions: c.topicPartitions ?? 8,
    guarantee: c.guarantee ?? 'at_least_once',
    // Under exactly-once an output is visible only once its transaction commits: commit often
    // (Kafka Streams' EOS default), as the cost is one transaction per interval, not per record.
    commitIntervalMs: toMillis(
      c.commitInterval ?? ((c.guarantee ?? 'at_least_once') === 'exactly_once' ? '100ms' : '2.8s'),
      'commitInterval',
    ),
    standbyReplicas: c.standbyReplicas ?? 0,
    production: Object.freeze(resolveProduction(c)),
    ...(workerId !== undefined ? { workerId } : {}),
    telemetry: Object.freeze({ enabled: c.telemetry?.enabled ?? false }),
    web: Object.freeze({
      enabled: c.web.enabled ?? true,
      port,
      host: c.web.host ?? '127.0.0.1',
      ...(c.web.cors !== undefined ? { cors: c.web.cors } : {}),
      bodyLimit:
        c.web.bodyLimit === undefined ? DEFAULT_BODY_LIMIT : parseByteSize(c.web.bodyLimit, 'web.bodyLimit'),
      ...(token !== undefined ? { token } : {}),
      protectMetrics: c.web.protectMetrics ?? false,
      ...(c.web.records !== undefined ? { records: c.web.records } : {}),
    }),
  })
}
