/**
 * The node platform: picks adapters by URL scheme for app.start(), runs
 * app.test() on memory, and app.main() through the CLI.
 */

import {
  type AppConfig,
  type AppDefinition,
  ConfigError,
  launch,
  makeLogger,
  type Platform,
  resolveConfig,
  startTestWorker,
  type TopicHandle,
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

export interface CliSend {
  readonly topic: string
  readonly values: readonly string[]
  readonly key?: string
  readonly partition?: number
  readonly broker?: string
}

/** `stream-app send`: encodes and validates each value with the topic's schema and sends it. */
export async function sendFromCli(def: AppDefinition, s: CliSend) {
  const config = resolveConfig(def.config, s.broker ? { broker: s.broker } : {})
  if (config.broker.startsWith('memory://'))
    throw new ConfigError(
      `cannot send to a memory:// broker from another process: it lives inside the worker (use sqlite:// or kafka://)`,
    )
  if (!Object.hasOwn(def.topics, s.topic)) throw new ConfigError(`unknown topic or agent '${s.topic}'`)
  const client = await startClient(def, s.broker ? { broker: s.broker } : {})
  try {
    const topics = client.ctx.topics as Record<string, TopicHandle<unknown, unknown>>
    const handle = topics[s.topic]!
    // All or nothing: every line must encode under the topic's schema before any is sent.
    const values = s.values.map(parseValue)
    const topic = client.runtime.topics.get(s.topic)!
    values.forEach((value, i) => {
      try {
        topic.record(value, s.key, 0, undefined, s.partition)
      } catch (e) {
        throw new ConfigError(
          `${values.length > 1 ? `line ${i + 1}: ` : ''}${(e as Error).message}; nothing was sent`,
        )
      }
    })
    const out = []
    for (const value of values) {
      out.push(
        await handle.send(value, {
          ...(s.key !== undefined ? { key: s.key } : {}),
          ...(s.partition !== undefined ? { partition: s.partition } : {}),
        }),
      )
    }
    return out
  } finally {
    await client.stop()
  }
}

const parseValue = (v: string): unknown => {
  try {
    return JSON.parse(v)
  } catch {
    return v
  }
}

export const nodePlatform: Platform = {
  start: async (def, overrides) => (await startWorker(def, overrides)).worker,
  test: startTestWorker,
  main: async (app, argv) => {
    const { runCli } = await import('./cli.ts')
    const code = await runCli(argv, { app })
    if (code !== 0) process.exitCode = code
  },
}
