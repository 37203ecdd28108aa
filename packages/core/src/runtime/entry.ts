/**
 * Core's entry points, the one place promises meet Effect: a worker is built
 * in a ManagedRuntime made of the adapters' layers, in a Scope of its own;
 * stop() closes the scope and disposes the runtime (closing the adapters). The
 * same for app.test(), on memory:// with Effect's TestClock; and core's
 * platform, which runs memory:// only.
 */
import * as Effect from 'effect/Effect'
import * as Exit from 'effect/Exit'
import * as Layer from 'effect/Layer'
import * as ManagedRuntime from 'effect/ManagedRuntime'
import * as Scope from 'effect/Scope'
import { MemoryBroker } from '../adapters/memory/broker.ts'
import { MemoryStore } from '../adapters/memory/store.ts'
import type { AppConfig, AppDefinition } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { ConfigError, unwrapFailure } from '../definition/errors.ts'
import type { LogLevel, Platform, TestOptions } from '../definition/platform.ts'
import type { Logger, Registry, ResolvedConfig, TestWorker, Worker } from '../definition/types.ts'
import type { Broker, Store } from '../ports/index.ts'
import { BrokerService, StoreService, WebService } from '../ports/services.ts'
import type { WebServerFactory } from '../ports/view.ts'
import { resolveConfig } from './config.ts'
import { makeLogger } from './logger.ts'
import { type TestTime, testTimeLayer } from './testing.ts'
import type { RunningWorker } from './view.ts'
import { makeWorker } from './worker.ts'
import type { WorkerRuntime } from './worker-runtime.ts'

export type WorkerLayer = Layer.Layer<BrokerService | StoreService, unknown>

export interface LaunchOptions {
  readonly config: ResolvedConfig
  readonly log: Logger & { child(name: string): Logger }
  /** The adapters: a Broker and a Store (and a WebService for a web server). */
  readonly layer: Layer.Layer<BrokerService | StoreService, unknown>
  /** A CLI command's worker (see WorkerOptions.client). */
  readonly client?: boolean
  /** Run on Effect's TestClock, started at this time (ms since the epoch): the worker gets `testClock`. */
  readonly testClockAt?: number
  /** app.test(): a crashed agent restarts at once, its backoff not waited on the test clock. */
  readonly instantRestarts?: boolean
}

/**
 * Builds a worker in a ManagedRuntime of the given layers; resolves when it is
 * ready. A start that fails closes everything it opened and rejects with why.
 */
export async function launch(def: AppDefinition, o0: LaunchOptions): Promise<WorkerRuntime> {
  // The app's own logger (config `logger`) takes every event, whoever made the launch options.
  const target = o0.config.logger
  const o: LaunchOptions = target
    ? {
        ...o0,
        log: makeLogger({
          name: def.config.id,
          target,
          ...(o0.config.logLevel ? { level: o0.config.logLevel } : {}),
        }),
      }
    : o0
  let time: TestTime | undefined
  const layer =
    o.testClockAt === undefined
      ? o.layer
      : Layer.merge(
          o.layer,
          testTimeLayer(o.testClockAt, (t) => {
            time = t
          }),
        )
  const runtime = ManagedRuntime.make(layer as Layer.Layer<BrokerService | StoreService, unknown>)
  const scope = Scope.makeUnsafe()
  const close = async () => {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
  }
  try {
    const rt = await runtime.runPromise(
      makeWorker({
        def,
        config: o.config,
        log: o.log,
        close,
        ...(o.client ? { client: true } : {}),
        ...(o.instantRestarts ? { instantRestarts: true } : {}),
      }).pipe(Scope.provide(scope)),
    )
    if (time) rt.testClock = testClock(rt, time)
    return rt
  } catch (e) {
    await close().catch(() => {})
    // What the start failed with, as it was thrown (an app's own error stays its own).
    throw unwrapFailure(e)
  }
}

/**
 * Drives the test clock: moves it to each moment a pending sleep falls due in
 * turn, letting the worker settle (idle()) after each, so when `advance`
 * returns everything that time made due has run, and what it set off.
 */
function testClock(rt: RunningWorker, time: TestTime): NonNullable<WorkerRuntime['testClock']> {
  const settle = async () => {
    if (rt.state === 'running') await rt.idle()
  }
  return {
    now: () => time.now(),
    async advance(ms) {
      const target = time.now() + ms
      await settle()
      for (;;) {
        const next = time.nextDue()
        if (next > target) break
        await Effect.runPromise(time.setTime(next))
        await settle()
      }
      await Effect.runPromise(time.setTime(target))
      await settle()
    },
  }
}

/** A broker or store given as an object: a layer that closes it with the worker, if asked to. */
export function portsLayer(o: {
  readonly broker: Broker
  readonly store: Store
  readonly closeBroker: boolean
  readonly web?: WebServerFactory
}): Layer.Layer<BrokerService | StoreService> {
  const broker = Layer.effect(
    BrokerService,
    Effect.acquireRelease(Effect.succeed(o.broker), (b) =>
      o.closeBroker ? Effect.promise(() => b.close().catch(() => {})) : Effect.void,
    ),
  )
  const store = Layer.effect(
    StoreService,
    Effect.acquireRelease(Effect.succeed(o.store), (s) => Effect.sync(() => s.close())),
  )
  const ports = Layer.merge(broker, store)
  return o.web ? Layer.merge(ports, Layer.succeed(WebService, o.web)) : ports
}

/** The ports a worker is started on (tests, benchmarks, adapters' own runtimes). */
export interface WorkerDeps {
  readonly broker: Broker
  readonly store: Store
  readonly log: Logger & { child(name: string): Logger }
  readonly config: ResolvedConfig
  /** Close the broker on stop (the caller opened it for this worker). */
  readonly closeBroker: boolean
  /** Starts the web server (when the config enables it). */
  readonly web?: WebServerFactory
  /** A CLI command's worker: no group membership, agents, timers or web; tables read-only. */
  readonly client?: boolean
  /** Run on Effect's TestClock, started at this time: the worker gets `testClock` (tests drive its time). */
  readonly testClockAt?: number
}

/** Starts a worker on given ports. */
export function startRuntime(def: AppDefinition, deps: WorkerDeps): Promise<WorkerRuntime> {
  return launch(def, {
    config: deps.config,
    log: deps.log,
    layer: portsLayer(deps),
    ...(deps.client ? { client: true } : {}),
    ...(deps.testClockAt !== undefined ? { testClockAt: deps.testClockAt } : {}),
  })
}

/** The Worker facade over a running WorkerRuntime. */
export function workerFacade(rt: WorkerRuntime): Worker<Registry> {
  return {
    id: rt.id,
    topics: rt.topicHandles,
    tables: rt.ctx.tables as Worker<Registry>['tables'],
    agents: rt.agentHandles,
    get url() {
      return rt.url
    },
    definition: rt.def,
    config: rt.config,
    log: rt.log,
    idle: (o) => rt.idle(o),
    commit: () => rt.commit(),
    stop: () => rt.stop(),
  }
}

/** Options of startMemoryRuntime. */
export interface MemoryRuntimeOptions {
  /** Shared by several runtimes to make them members of one group (default: a new one). */
  readonly broker?: MemoryBroker
  readonly store?: Store
  readonly logLevel?: LogLevel
  /** The web config; default off. */
  readonly web?: AppConfig['web']
  /** Starts the web server (when `web` enables it). */
  readonly webServer?: WebServerFactory
  /** Close the broker on stop (default: when this call made it). */
  readonly closeBroker?: boolean
  /** Run on Effect's TestClock, started at this time (ms since the epoch): the worker gets `testClock`. */
  readonly testClockAt?: number
}

/**
 * A worker on the memory:// broker and store with a silent logger: for tests
 * and benchmarks that drive the runtime directly (app.test() is the user-facing way).
 */
export async function startMemoryRuntime(
  def: AppDefinition,
  options: MemoryRuntimeOptions = {},
): Promise<WorkerRuntime> {
  const config = resolveConfig(def.config, {
    broker: 'memory://',
    store: 'memory://',
    web: options.web ?? { enabled: false },
  })
  const layer = portsLayer({
    broker: options.broker ?? new MemoryBroker(),
    store: options.store ?? new MemoryStore(),
    closeBroker: options.closeBroker ?? options.broker === undefined,
    ...(options.webServer ? { web: options.webServer } : {}),
  })
  const log = makeLogger({ level: options.logLevel ?? 'silent', name: def.config.id })
  return launch(def, {
    config,
    log,
    layer,
    ...(options.testClockAt !== undefined ? { testClockAt: options.testClockAt } : {}),
  })
}

/** app.test(): memory broker and store, web off, Effect's TestClock. */
export async function startTestWorker(
  def: AppDefinition,
  options: TestOptions = {},
): Promise<TestWorker<Registry>> {
  const broker = new MemoryBroker('memory://', { recordSends: true })
  const rt = await launch(def, {
    config: resolveConfig(def.config, { broker: 'memory://', store: 'memory://', web: { enabled: false } }),
    log: makeLogger({ level: options.logLevel ?? 'warn', name: def.config.id }),
    layer: portsLayer({ broker, store: new MemoryStore(), closeBroker: true }),
    testClockAt: options.startTime ?? Date.now(),
    instantRestarts: true,
  })
  const clock = rt.testClock!
  return {
    ...workerFacade(rt),
    advance: (d: Duration) => clock.advance(toMillis(d, 'advance')),
    now: () => clock.now(),
    sent: (topic: string) => broker.sentTo(topic).map((r) => rt.decode(topic, r)),
    /** Not in the API: the broker, for tests that write around a topic's schema. */
    broker,
  } as TestWorker<Registry>
}

/** Core's platform: memory:// only (the stream-app package adds sqlite://, kafka:// and the web server). */
export const memoryPlatform: Platform = {
  async start(def, overrides) {
    const config = resolveConfig(def.config, overrides)
    if (!config.broker.startsWith('memory://') || !config.store.startsWith('memory://'))
      throw new ConfigError(
        `@stream-app/core runs memory:// only; import createApp from 'stream-app' for ${config.broker}`,
      )
    const rt = await launch(def, {
      config,
      log: makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) }),
      layer: portsLayer({
        broker: new MemoryBroker(config.broker),
        store: new MemoryStore(),
        closeBroker: true,
      }),
    })
    return workerFacade(rt)
  },
  test: startTestWorker,
  async main() {
    throw new ConfigError(`app.main() needs the 'stream-app' package`)
  },
}
