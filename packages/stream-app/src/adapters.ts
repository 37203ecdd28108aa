/**
 * The adapters a config's URLs name, as the layers a worker is built on:
 * memory://, sqlite:// or kafka:// for the broker (the Kafka package loaded
 * only when used, so the embedded broker never needs the native client),
 * memory:// or sqlite:// for the store (inside the broker's own file under
 * exactly-once on sqlite://, so its writes join the broker's transaction),
 * the web server, and the OpenTelemetry tracer when the config turns
 * telemetry on.
 */
import { join } from 'node:path'
import { type Broker, ConfigError, type Logger, type ResolvedConfig, type Store } from '@stream-app/core'
import {
  asFailure,
  BrokerService,
  brokerLayer,
  MemoryBroker,
  MemoryStore,
  makeLogger,
  type StoreService,
  storeLayer,
  TracingService,
  WebService,
} from '@stream-app/core/runtime'
import {
  DEFAULT_BROKER_PATH,
  openSqliteStore,
  sqliteBrokerLayer,
  sqlitePathFromUrl,
} from '@stream-app/sqlite'
import { otelTracing, startWebServer } from '@stream-app/web'
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
    readonly replicationFactor?: number
    readonly createTopics?: boolean
  }): Promise<Broker>
}

/**
 * The Kafka package, loaded by a name in a variable and typed by KafkaAdapter,
 * so type-checking an app never reads it (nor the native client's types) either.
 */
export async function loadKafka(): Promise<KafkaAdapter> {
  try {
    return (await import(KAFKA_PACKAGE)) as KafkaAdapter
  } catch (e) {
    throw new ConfigError(
      `kafka:// needs the Kafka client, which is not installed or not built here (${(e as Error).message.split('\n')[0]}): npm install @stream-app/kafka @confluentinc/kafka-javascript (in the stream-app repository: bash scripts/setup.sh --with-kafka)`,
    )
  }
}

const logFor = (config: ResolvedConfig, part: string) =>
  makeLogger({
    name: `${config.id}:${part}`,
    ...(config.logLevel ? { level: config.logLevel } : {}),
    ...(config.logger ? { target: config.logger } : {}),
  })

/** Who opens a broker besides a worker (a CLI command reading topics' facts), and how it logs. */
export interface BrokerUse {
  readonly log?: Logger
  /** Kafka's client.id (default: the app's id). */
  readonly clientId?: string
  /** sqlite://: background retention and compaction (default on; a short command turns it off). */
  readonly maintenance?: boolean
}

/** The broker layer a config's URL names. */
export function brokerFor(config: ResolvedConfig, use: BrokerUse = {}): Layer.Layer<BrokerService, unknown> {
  const url = config.broker
  if (url.startsWith('memory://')) return brokerLayer(Effect.sync(() => new MemoryBroker(url)))
  if (url.startsWith('sqlite://'))
    return sqliteBrokerLayer({
      path: sqlitePathFromUrl(url, DEFAULT_BROKER_PATH),
      log: use.log ?? logFor(config, 'broker'),
      ...(use.maintenance === false ? { maintenanceIntervalMs: 0 } : {}),
    })
  if (url.startsWith('kafka://'))
    return brokerLayer(
      Effect.tryPromise({
        try: async () =>
          (await loadKafka()).openKafkaBroker({
            url,
            brokerOptions: (config.brokerOptions ?? {}) as Record<string, unknown>,
            log: use.log ?? logFor(config, 'kafka'),
            clientId: use.clientId ?? config.id,
            ...(config.replicationFactor !== undefined
              ? { replicationFactor: config.replicationFactor }
              : {}),
            createTopics: config.production.declareTopics,
          }),
        catch: asFailure,
      }),
    )
  return Layer.effect(
    BrokerService,
    Effect.fail(
      new ConfigError(
        `unsupported broker URL ${JSON.stringify(url)} (expected memory://, sqlite:// or kafka://host:port)`,
      ),
    ),
  )
}

/** The store layer a config's URL names (under exactly-once on sqlite:// it is the broker's own file). */
export function storeFor(config: ResolvedConfig): Layer.Layer<StoreService, unknown, BrokerService> {
  const url = config.store
  const open = (): Store => {
    if (url.startsWith('memory://')) return new MemoryStore()
    if (url.startsWith('sqlite://'))
      return openSqliteStore({ path: sqlitePathFromUrl(url, join(config.datadir, 'store.sqlite')) })
    throw new ConfigError(`unsupported store URL ${JSON.stringify(url)} (expected sqlite:// or memory://)`)
  }
  return storeLayer(
    Effect.gen(function* () {
      if (config.guarantee === 'exactly_once') {
        // Table rows must join the broker's transaction, so they live in its file.
        const broker = yield* BrokerService
        if (broker.atomic) return broker.atomic.store()
      }
      return yield* Effect.try({ try: open, catch: asFailure })
    }),
  )
}

/** Broker, store and (when asked) the web server a config names; the tracer when telemetry is on. */
export function adaptersLayer(
  config: ResolvedConfig,
  options: { web: boolean },
): Layer.Layer<BrokerService | StoreService, unknown> {
  const adapters = storeFor(config).pipe(Layer.provideMerge(brokerFor(config)))
  const ports = config.telemetry.enabled
    ? Layer.merge(adapters, Layer.succeed(TracingService, otelTracing(config)))
    : adapters
  return options.web
    ? Layer.merge(
        ports,
        Layer.succeed(WebService, (view) => startWebServer(view)),
      )
    : ports
}
