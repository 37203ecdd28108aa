/**
 * A worker runtime on kafka:// with the in-process store and no web server:
 * for tests and benchmarks that drive the runtime directly (users run apps
 * through the stream-app package, which picks adapters by URL).
 */
import type { AppDefinition, Store } from '@stream-app/core'
import {
  type LogLevel,
  MemoryStore,
  makeLogger,
  resolveConfig,
  startRuntime,
  type WorkerRuntime,
} from '@stream-app/core/runtime'
import { openKafkaBroker } from './broker.ts'

export async function startKafkaRuntime(
  def: AppDefinition,
  options: { readonly url: string; readonly logLevel?: LogLevel; readonly store?: Store },
): Promise<WorkerRuntime> {
  const log = makeLogger({ level: options.logLevel ?? 'warn', name: def.config.id })
  return startRuntime(def, {
    broker: await openKafkaBroker({ url: options.url, log }),
    store: options.store ?? new MemoryStore(),
    log,
    config: resolveConfig(def.config, { broker: options.url, store: 'memory://', web: { enabled: false } }),
    closeBroker: true,
  })
}
