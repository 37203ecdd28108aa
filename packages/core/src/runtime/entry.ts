/**
 * Core's entry points. `worker()` is a worker as a scoped Effect on the
 * Broker and Store services it is given: a caller that is an Effect program
 * (the CLI) builds it in its own scope, on adapters built from their Layers in
 * that scope, and closing the scope stops the worker, then the adapters.
 * `launch()` is the same Effect for callers that want a promise (app.start(),
 * app.test(), tests and benchmarks): it builds the adapters' layer and the
 * worker in one Scope that stop() closes. Core's platform runs memory:// only.
 */
import * as Context from 'effect/Context'
import * as Effect from 'effect/Effect'
import * as Exit from 'effect/Exit'
import * as Layer from 'effect/Layer'
import * as Scope from 'effect/Scope'
import { MemoryBroker } from '../adapters/memory/broker.ts'
import { MemoryStore } from '../adapters/memory/store.ts'
import type { AppConfig, AppDefinition } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { ConfigError, messageOf, unwrapFailure } from '../definition/errors.ts'
import type { LogLevel, Platform, TestOptions } from '../definition/platform.ts'
import type { Logger, Registry, ResolvedConfig, TestWorker, Worker } from '../definition/types.ts'
import type { Broker, Store } from '../ports/index.ts'
import { BrokerService, StoreService, WebService } from '../ports/services.ts'
import type { WebServerFactory } from '../ports/view.ts'
import { resolveConfig } from './config.ts'
import { workerHeapGrowth } from './heap.ts'
import { makeLogger } from './logger.ts'
import { type TestTime, testTimeLayer } from './testing.ts'
import type { RunningWorker } from './view.ts'
import { makeWorker } from './worker.ts'
import type { WorkerRuntime } from './worker-runtime.ts'

export type WorkerLayer = Layer.Layer<BrokerService | StoreService, unknown>

/** How a worker is built, besides the adapters it runs on. */
export interface WorkerSpec {
  readonly config: ResolvedConfig
  readonly log: Logger & { child(name: string): Logger }
  /** A CLI command's worker (see WorkerOptions.client). */
  readonly client?: boolean
  /** Run on Effect's TestClock, started at this time (ms since the epoch): the worker gets `testClock`. */
  readonly testClockAt?: number
  /** app.test(): a crashed agent restarts at once, its backoff not waited on the test clock. */
  readonly instantRestarts?: boolean
}

export interface LaunchOptions extends WorkerSpec {
  /** The adapters: a Broker and a Store (and a WebService for a web server). */
  readonly layer: Layer.Layer<BrokerService | StoreService, unknown>
}

/**
 * A worker in the current scope, on the BrokerService and StoreService (and
 * WebService, TracingService when given) of the context; it succeeds once the
 * worker is ready. Closing the enclosing scope stops it (commit, leave the
 * group) before anything acquired earlier in that scope, such as the adapters
 * it runs on, is released. Its stop() (or its stopping itself after a fatal
 * error) closes only the worker's own part of the scope. A start that fails
 * closes what it opened and fails with why.
 *
 * @example
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const adapters = yield* Layer.build(layer)
 *     const rt = yield* worker(def, { config, log }).pipe(Effect.provideContext(adapters))
 *     yield* Effect.promise(() => rt.done)
 *   }),
 * )
 */
export const worker = (
  def: AppDefinition,
  spec: WorkerSpec,
): Effect.Effect<WorkerRuntime, unknown, BrokerService | StoreService | Scope.Scope> =>
  scopedWorker(def, spec, undefined)

/**
 * worker(), with the scope its stop() closes: by default a scope of the
 * worker's own inside the current one, or (launch) the scope its adapters were
 * built in, so that a stop closes them too.
 */
function scopedWorker(
  def: AppDefinition,
  spec: WorkerSpec,
  stopCloses: Scope.Closeable | undefined,
): Effect.Effect<RunningWorker, unknown, BrokerService | StoreService | Scope.Scope> {
  return Effect.gen(function* () {
    const o = withAppLogger(def, spec)
    const outer = yield* Scope.Scope
    const own = yield* Scope.fork(outer, 'sequential')
    let time: TestTime | undefined
    const start = Effect.gen(function* () {
      yield* workerHeapGrowth
      const clock =
        o.testClockAt === undefined
          ? Context.empty()
          : yield* Layer.buildWithScope(
              testTimeLayer(o.testClockAt, (t) => {
                time = t
              }),
              own,
            )
      // stop() is called from promises: it closes the scope in the context the worker is built in.
      const context = Context.merge(yield* Effect.context<never>(), clock)
      const close = () => Effect.runPromiseWith(context)(Scope.close(stopCloses ?? own, Exit.void))
      return yield* makeWorker({
        def,
        config: o.config,
        log: o.log,
        close,
        ...(o.client ? { client: true } : {}),
        ...(o.instantRestarts ? { instantRestarts: true } : {}),
      }).pipe(Effect.provideContext(clock))
    })
    const rt = yield* start.pipe(
      Scope.provide(own),
      Effect.onError(() => Scope.close(own, Exit.void)),
    )
    if (time) rt.testClock = testClock(rt, time)
    // Closing the caller's scope stops the worker, its state and `done` set as by stop().
    // (Not under launch, whose stop() is what closes that scope.)
    if (stopCloses === undefined)
      yield* Scope.addFinalizer(
        outer,
        Effect.promise(() => rt.stop().catch((e) => rt.log.error(`stop failed: ${messageOf(e)}`))),
      )
    return rt
  })
}

/** The app's own logger (config `logger`) takes every event, whoever made the spec. */
function withAppLogger(def: AppDefinition, spec: WorkerSpec): WorkerSpec {
  const target = spec.config.logger
  if (!target) return spec
  return {
    ...spec,
    log: makeLogger({
      name: def.config.id,
      target,
      ...(spec.config.logLevel ? { level: spec.config.logLevel } : {}),
    }),
  }
}

/**
 * worker() as a promise: the adapters' layer and the worker built in one
 * Scope, which the worker's stop() closes (the adapters after the worker).
 * Resolves when the worker is ready; a start that fails closes everything it
 * opened and rejects with why, as it was thrown.
 */
export async function launch(def: AppDefinition, o: LaunchOptions): Promise<WorkerRuntime> {
  const scope = Scope.makeUnsafe()
  try {
    return await Effect.runPromise(
      Effect.gen(function* () {
        const adapters = yield* Layer.buildWithScope(o.layer, scope)
        return yield* scopedWorker(def, o, scope).pipe(Effect.provideContext(adapters))
      }).pipe(Scope.provide(scope)),
    )
  } catch (e) {
    await Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => {})
    throw unwrapFailure(e)
  }
}

/**
 * Drives the test clock: moves it to each moment a pending sleep falls due in
 * turn, letting the worker settle (idle()) after each, so when `advance`
 * returns everything that time made due has run, and what it set off.
 */
function testClock(rt: RunningWorker, time: TestTime): NonNullable<WorkerRuntime['testClock']> {
  // An agent waiting out a restart backoff waits for this clock: settled until its restart falls due.
  const settle = async () => {
    if (rt.state === 'running') await rt.idle({ backoffIsQuiet: true })
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
