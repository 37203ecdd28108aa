/**
 * The node platform: picks adapters by URL scheme for app.start(), runs
 * app.test() on memory, and app.main() through the CLI.
 */

import { join } from 'node:path'
import {
  type AppConfig,
  type AppDefinition,
  type Broker,
  BrokerService,
  brokerLayer,
  ConfigError,
  type Logger,
  launch,
  MemoryBroker,
  MemoryStore,
  makeLogger,
  type Platform,
  type ResolvedConfig,
  resolveConfig,
  type Store,
  startTestWorker,
  storeLayer,
  type TopicHandle,
  WebService,
  workerFacade,
} from '@stream-app/core'
import { DEFAULT_BROKER_PATH, openSqliteBroker, openSqliteStore, sqlitePathFromUrl } from '@stream-app/sqlite'
import { startWebServer } from '@stream-app/web'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'

const KAFKA_PACKAGE: string = '@stream-app/kafka'

/** What this package uses of @stream-app/kafka (checked against it in packages/kafka's tests). */
export interface KafkaAdapter {
  openKafkaBroker(options: {
    readonly url: string
    readonly brokerOptions: Readonly<Record<string, unknown>>
    readonly log: Logger
    readonly clientId: string
  }): Promise<Broker>
}

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
    // Loaded only when used: the embedded broker never needs the native Kafka client. Named
    // through a variable and typed by KafkaAdapter, so type-checking an app never reads the Kafka
    // package (nor the native client's types it imports) either.
    let kafka: KafkaAdapter
    try {
      kafka = (await import(KAFKA_PACKAGE)) as KafkaAdapter
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

/**
 * The adapters a config names, as layers: the broker (opened and closed with
 * the worker), the store (which may live in the broker's own file), and the
 * web server.
 */
export function adaptersLayer(config: ResolvedConfig, options: { web: boolean }) {
  const broker = brokerLayer(Effect.tryPromise({ try: () => openBroker(config), catch: (e) => e }))
  const store = storeLayer(
    Effect.gen(function* () {
      const b = yield* BrokerService
      return yield* Effect.tryPromise({ try: () => openStore(config, b), catch: (e) => e })
    }),
  ).pipe(Layer.provideMerge(broker))
  return options.web
    ? Layer.merge(
        store,
        Layer.succeed(WebService, (view) => startWebServer(view)),
      )
    : store
}

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
