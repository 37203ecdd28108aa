/**
 * The node platform: picks adapters by URL scheme for app.start(), runs
 * app.test() on memory, and app.main() through the CLI.
 */

import { join } from 'node:path'
import {
  type AppConfig,
  type AppDefinition,
  type Broker,
  ConfigError,
  liveClock,
  MemoryBroker,
  MemoryStore,
  makeLogger,
  type Platform,
  type ResolvedConfig,
  resolveConfig,
  type Store,
  startRuntime,
  startTestWorker,
  type TopicHandle,
  workerFacade,
} from '@stream-app/core'
import { DEFAULT_BROKER_PATH, openSqliteBroker, openSqliteStore, sqlitePathFromUrl } from '@stream-app/sqlite'
import { startWebServer } from '@stream-app/web'

async function openBroker(config: ResolvedConfig): Promise<Broker> {
  const url = config.broker
  if (url.startsWith('memory://')) return new MemoryBroker(url)
  if (url.startsWith('sqlite://')) {
    return openSqliteBroker({
      path: sqlitePathFromUrl(url, DEFAULT_BROKER_PATH),
      log: makeLogger({
        name: `${config.id}:broker`,
        ...(config.logLevel ? { level: config.logLevel } : {}),
      }),
    })
  }
  if (url.startsWith('kafka://')) {
    // Loaded only when used: the embedded broker never needs the native Kafka client.
    let kafka: typeof import('@stream-app/kafka')
    try {
      kafka = await import('@stream-app/kafka')
    } catch (e) {
      throw new ConfigError(
        `kafka:// needs the Kafka client, which is not installed or not built here (${(e as Error).message.split('\n')[0]}): npm install @stream-app/kafka @confluentinc/kafka-javascript (in the stream-app repository: bash scripts/setup.sh --with-kafka)`,
      )
    }
    return kafka.openKafkaBroker({
      url,
      brokerOptions: (config.brokerOptions ?? {}) as Record<string, unknown>,
      log: makeLogger({ name: `${config.id}:kafka`, ...(config.logLevel ? { level: config.logLevel } : {}) }),
      clientId: config.id,
    })
  }
  throw new ConfigError(
    `unsupported broker URL ${JSON.stringify(url)} (expected memory://, sqlite:// or kafka://host:port)`,
  )
}

async function openStore(config: ResolvedConfig, broker: Broker): Promise<Store> {
  const url = config.store
  // exactly-once on sqlite://: table rows must join the broker's transaction, so they live in its file.
  if (config.guarantee === 'exactly_once' && broker.atomic) return broker.atomic.store()
  if (url.startsWith('memory://')) return new MemoryStore()
  if (url.startsWith('sqlite://'))
    return openSqliteStore({ path: sqlitePathFromUrl(url, join(config.datadir, 'store.sqlite')) })
  throw new ConfigError(`unsupported store URL ${JSON.stringify(url)} (expected sqlite:// or memory://)`)
}

export async function startWorker(def: AppDefinition, overrides?: Partial<AppConfig>) {
  const config = resolveConfig(def.config, overrides)
  const log = makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) })
  const broker = await openBroker(config)
  let store: Store
  try {
    store = await openStore(config, broker)
  } catch (e) {
    await broker.close()
    throw e
  }
  const rt = await startRuntime(def, {
    broker,
    store,
    clock: liveClock,
    log,
    config,
    closeBroker: true,
    web: (runtime) => startWebServer(runtime, { resolveOwner: (rt, table, key) => rt.ownerUrl(table, key) }),
  })
  return { runtime: rt, worker: workerFacade(rt) }
}

/** A client worker for CLI commands: sends, asks and table reads, no group membership. */
export async function startClient(def: AppDefinition, overrides: Partial<AppConfig> = {}) {
  const config = resolveConfig(def.config, { ...overrides, web: { enabled: false } })
  const log = makeLogger({ name: def.config.id, level: config.logLevel ?? 'warn' })
  const broker = await openBroker(config)
  const store = await openStore(config, broker).catch(async (e) => {
    await broker.close()
    throw e
  })
  // memory:// lives in this process: a command there gets a whole worker, agents included.
  const client = !config.broker.startsWith('memory://')
  const rt = await startRuntime(def, {
    broker,
    store,
    clock: liveClock,
    log,
    config,
    closeBroker: true,
    client,
  })
  return { ctx: rt.baseCtx, runtime: rt, stop: () => rt.stop() }
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
