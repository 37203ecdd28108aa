/**
 * Workers on the adapters a config names: a whole worker (app.start(),
 * `stream-app run`) and a client for CLI commands (sends, asks and table
 * reads, no group membership). The CLI builds them inside its own Effect
 * program: the adapters' layer and the worker in the command's scope, so
 * closing that scope stops the worker and then closes the adapters.
 * app.start() wants a promise, and gets the same worker through launch().
 */
import type { AppConfig, AppDefinition, ResolvedConfig } from '@stream-app/core'
import {
  asFailure,
  launch,
  makeLogger,
  resolveConfig,
  type WorkerRuntime,
  type WorkerSpec,
  worker,
  workerFacade,
} from '@stream-app/core/runtime'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import type * as Scope from 'effect/Scope'
import { adaptersLayer } from './adapters.ts'

const workerSpec = (def: AppDefinition, overrides?: Partial<AppConfig>) => {
  const config = resolveConfig(def.config, overrides)
  const log = makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) })
  return { config, log }
}

/** app.start(): a whole worker, as a promise. */
export async function startWorker(def: AppDefinition, overrides?: Partial<AppConfig>) {
  const { config, log } = workerSpec(def, overrides)
  const rt = await launch(def, { config, log, layer: adaptersLayer(config, { web: true }) })
  return { runtime: rt, worker: workerFacade(rt) }
}

/**
 * The adapters a config names, built in the current scope (so released after
 * whatever is acquired later in it), and a worker on them.
 */
const onAdapters = (
  def: AppDefinition,
  config: ResolvedConfig,
  spec: Omit<WorkerSpec, 'config'>,
  web: boolean,
): Effect.Effect<WorkerRuntime, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const adapters = yield* Layer.build(adaptersLayer(config, { web }))
    return yield* worker(def, { ...spec, config }).pipe(Effect.provideContext(adapters))
  })

/** `stream-app run`: a whole worker in the command's scope (closing it commits and leaves the group). */
export const runWorker = (
  def: AppDefinition,
  overrides?: Partial<AppConfig>,
): Effect.Effect<WorkerRuntime, unknown, Scope.Scope> =>
  Effect.suspend(() => {
    const { config, log } = workerSpec(def, overrides)
    return onAdapters(def, config, { log }, true)
  })

/** A client worker for a CLI command, in the command's scope: sends, asks and table reads. */
export const clientWorker = (
  def: AppDefinition,
  overrides: Partial<AppConfig> = {},
): Effect.Effect<WorkerRuntime, unknown, Scope.Scope> =>
  Effect.suspend(() => {
    const config = resolveConfig(def.config, { ...overrides, web: { enabled: false } })
    const log = makeLogger({ name: def.config.id, level: config.logLevel ?? 'warn' })
    // memory:// lives in this process: a command there gets a whole worker, agents included.
    const client = !config.broker.startsWith('memory://')
    return onAdapters(def, config, { log, client }, false)
  })

/**
 * Runs `use` with a client worker in a scope of its own, then stops it: the
 * last flush of its sends is part of the command, so a stop that fails fails
 * the command (the scope still closes the worker and its adapters either way).
 */
export const withClient = <A>(
  def: AppDefinition,
  overrides: Partial<AppConfig>,
  use: (rt: WorkerRuntime) => Promise<A>,
): Effect.Effect<A, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const rt = yield* clientWorker(def, overrides)
      const result = yield* Effect.tryPromise({ try: () => use(rt), catch: asFailure })
      yield* Effect.tryPromise({ try: () => rt.stop(), catch: asFailure })
      return result
    }),
  )
