/**
 * Workers the node platform and the CLI start: a whole worker on the adapters
 * a config names (app.start(), `stream-app run`), a client for CLI commands
 * (sends, asks and table reads, no group membership).
 */
import {
  type AppConfig,
  type AppDefinition,
  launch,
  makeLogger,
  resolveConfig,
  workerFacade,
} from '@stream-app/core'
import { adaptersLayer } from './adapters.ts'

export async function startWorker(def: AppDefinition, overrides?: Partial<AppConfig>) {
  const config = resolveConfig(def.config, overrides)
  const log = makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) })
  const rt = await launch(def, { config, log, layer: adaptersLayer(config, { web: true }) })
  return { runtime: rt, worker: workerFacade(rt) }
}

/** A client worker for CLI commands: sends, asks and table reads, no group membership. */
export async function startClient(def: AppDefinition, overrides: Partial<AppConfig> = {}) {
  const config = resolveConfig(def.config, { ...overrides, web: { enabled: false } })
  const log = makeLogger({ name: def.config.id, level: config.logLevel ?? 'warn' })
  // memory:// lives in this process: a command there gets a whole worker, agents included.
  const client = !config.broker.startsWith('memory://')
  const rt = await launch(def, { config, log, layer: adaptersLayer(config, { web: false }), client })
  return { ctx: rt.ctx, runtime: rt, stop: () => rt.stop() }
}
