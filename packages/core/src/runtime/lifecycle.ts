/**
 * The app's own lifecycle code, run by the worker: services (acquired in the
 * worker's Scope, so closing it releases them in reverse after everything
 * acquired later: agents, timers, the web server), tasks, hooks, onError
 * handlers, and the AbortSignals handed out as ctx.signal. User code runs
 * guarded: what it throws is logged, and a hook, stop or onError still
 * running after its deadline (on the worker's clock) is left behind, so none
 * of it can wedge a start, a rebalance or a stop.
 */
import * as Clock from 'effect/Clock'
import * as Effect from 'effect/Effect'
import * as FiberSet from 'effect/FiberSet'
import * as Layer from 'effect/Layer'
import type * as Scope from 'effect/Scope'
import type { AppDefinition } from '../definition/definition.ts'
import { messageOf, StreamAppError } from '../definition/errors.ts'
import { HOOK_TIMEOUT_MS, type HookEvent, type OnErrorFn } from '../definition/lifecycle.ts'
import type { Logger } from '../definition/types.ts'
import type { BrokerRecord, TopicPartition } from '../ports/index.ts'
import { tpKey } from '../ports/topic-partitions.ts'
import { ackItem, type Cursor } from './internal/cursor.ts'

/**
 * `e` on the real clock: a stop's deadlines are real time also under
 * app.test(), where nobody moves the test clock while a test stops its worker.
 */
export const wallClock = <A, E, R>(e: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(e, Clock.Clock, Clock.Clock.defaultValue())

/** Closes a part when the current scope closes (in reverse order of acquisition, like every finalizer). */
export const closeOnRelease = (part: {
  close(): void | Promise<void>
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() => Effect.promise(async () => part.close()))

/** Acknowledges what a handler pulled for the value in hand, except records `keep` refuses. */
export function ackHeld(cursor: Cursor, keep: (rec: BrokerRecord) => boolean): void {
  for (const item of cursor.inflight) if (keep(item.rec)) ackItem(item)
  cursor.inflight.length = 0
}

/** What the app's own code threw (a hook, a task, an onError, a service's stop). */
class UserCodeFailure {
  readonly _tag = 'UserCodeFailure'
  constructor(readonly error: unknown) {}
}

/** A service whose start failed: the worker does not start. */
export class ServiceStartError extends StreamAppError {
  readonly _tag = 'ServiceStartError'
  readonly retriable = false
  override name = 'ServiceStartError'
}

/**
 * ctx.signal: one signal for the worker (aborted when it stops) and one per
 * partition (aborted when it is revoked, or the worker stops). A revoked
 * partition's aborted signal is kept until the partition is assigned again,
 * so a handler still holding one of its records sees it aborted.
 */
export class Signals {
  private readonly stopped = new AbortController()
  private readonly partitions = new Map<string, AbortController>()

  get worker(): AbortSignal {
    return this.stopped.signal
  }

  of(topic: string, partition: number): AbortSignal {
    if (this.stopped.signal.aborted) return this.stopped.signal
    const key = tpKey(topic, partition)
    let c = this.partitions.get(key)
    if (c === undefined) {
      c = new AbortController()
      this.partitions.set(key, c)
    }
    return c.signal
  }

  assigned(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const key = tpKey(tp.topic, tp.partition)
      if (this.partitions.get(key)?.signal.aborted) this.partitions.delete(key)
    }
  }

  revoked(tps: readonly TopicPartition[]): void {
    for (const tp of tps) {
      const key = tpKey(tp.topic, tp.partition)
      const c = this.partitions.get(key) ?? new AbortController()
      this.partitions.set(key, c)
      c.abort(new StopSignal(`partition ${tp.topic}[${tp.partition}] was revoked`))
    }
  }

  stop(): void {
    const why = new StopSignal('the worker is stopping')
    this.stopped.abort(why)
    for (const c of this.partitions.values()) c.abort(why)
  }
}

/** The reason of an aborted ctx.signal. */
export class StopSignal extends StreamAppError {
  readonly _tag = 'StopSignal'
  readonly retriable = false
  override name = 'AbortError'
}

export interface LifecycleDeps {
  readonly def: AppDefinition
  readonly log: Logger
  /** The running worker: its ctx is that of services, tasks and hooks (no current event). */
  readonly worker: { readonly ctx: Record<string, unknown> }
}

export interface Lifecycle {
  readonly signals: Signals
  /** The services' resources by name (ctx.services), filled as they start. */
  readonly services: Record<string, unknown>
  /** Starts every service in declaration order, each released in the current scope. */
  readonly startServices: Effect.Effect<void, unknown, Scope.Scope>
  /** Runs the hooks of an event, one after another, each guarded and with its deadline. */
  fire(event: HookEvent, partitions?: readonly TopicPartition[]): Promise<void>
  /** Tells an onError handler of a failure (guarded, with the hook deadline). */
  onError(what: string, fn: OnErrorFn, error: unknown, ctx: unknown, event?: unknown): Promise<void>
  /** Starts every task (forked: a task may run as long as the worker does). */
  readonly startTasks: Effect.Effect<void, never, Scope.Scope>
  /** The first step of a stop: 'stopping' hooks, then every signal aborts; tasks get until `graceMs` to end. */
  stopping(graceMs: number): Effect.Effect<void>
}

export const makeLifecycle = (d: LifecycleDeps): Effect.Effect<Lifecycle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { def, log } = d
    const signals = new Signals()
    const leaderTopic = `${def.config.id}-__leader`
    const services: Record<string, unknown> = {}
    // Runs user code as fibers of the worker's scope, on its clock (the test clock under app.test()).
    const run = yield* FiberSet.makeRuntimePromise<never>()
    const tasks = yield* FiberSet.make<void>()

    /** fn's result awaited until `ms`; a failure or the deadline is logged, never thrown. */
    const guarded = (what: string, ms: number, fn: () => unknown): Effect.Effect<void> =>
      Effect.tryPromise({ try: async () => fn(), catch: (e) => new UserCodeFailure(e) }).pipe(
        Effect.timeoutOrElse({
          duration: ms,
          orElse: () =>
            Effect.sync(() => log.warn(`${what} still running after ${ms}ms; going on without it`)),
        }),
        Effect.catch((f) => Effect.sync(() => log.error(`${what} failed: ${messageOf(f.error)}`))),
        Effect.asVoid,
      )

    const startService = (
      s: AppDefinition['services'][number],
    ): Effect.Effect<void, unknown, Scope.Scope> => {
      const failed = (e: unknown) =>
        new ServiceStartError(`service '${s.name}' failed to start: ${messageOf(e)}`)
      if (s.layer !== undefined)
        return Layer.build(s.layer).pipe(
          Effect.mapError(failed),
          Effect.flatMap((context) =>
            Effect.sync(() => {
              // The layer provides one service: the resource is its value (the build adds its memo map).
              const provided = [...context.mapUnsafe].filter(([key]) => key !== Layer.CurrentMemoMap.key)
              services[s.name] = provided.length === 1 ? provided[0]![1] : Object.fromEntries(provided)
            }),
          ),
        )
      return Effect.acquireRelease(
        Effect.tryPromise({ try: async () => s.start!(d.worker.ctx), catch: failed }),
        (resource) =>
          Effect.suspend(() =>
            s.stop === undefined
              ? Effect.void
              : guarded(`service '${s.name}' stop`, HOOK_TIMEOUT_MS, () => s.stop!(resource, d.worker.ctx)),
          ).pipe(Effect.andThen(Effect.sync(() => log.info(`service '${s.name}' stopped`)))),
      ).pipe(
        Effect.flatMap((resource) =>
          Effect.sync(() => {
            services[s.name] = resource
          }),
        ),
      )
    }

    return {
      signals,
      services,
      startServices: Effect.forEach(
        def.services,
        (s) =>
          startService(s).pipe(Effect.andThen(Effect.sync(() => log.info(`service '${s.name}' started`)))),
        { discard: true },
      ),
      fire: async (event, partitions) => {
        const hooks = def.hooks.filter((h) => h.event === event)
        if (!hooks.length) return
        // The leader topic only elects the worker that runs onLeader jobs: not the app's partitions.
        const list = partitions
          ?.filter((tp) => tp.topic !== leaderTopic)
          .map((tp) => Object.freeze({ topic: tp.topic, partition: tp.partition }))
        if (list?.length === 0) return
        for (const h of hooks)
          await run(
            guarded(`on('${event}') hook`, h.timeoutMs, () =>
              list === undefined ? h.fn(d.worker.ctx) : h.fn(Object.freeze(list), d.worker.ctx),
            ),
          ).catch(() => {})
      },
      onError: (what, fn, error, ctx, event) =>
        run(guarded(`${what} onError`, HOOK_TIMEOUT_MS, () => fn(error, ctx, event))).catch(() => {}),
      startTasks: Effect.forEach(
        Object.values(def.tasks),
        (t) =>
          FiberSet.run(
            tasks,
            Effect.tryPromise({
              try: async () => t.fn(d.worker.ctx),
              catch: (e) => new UserCodeFailure(e),
            }).pipe(
              Effect.catch(({ error: e }) =>
                Effect.gen(function* () {
                  log.error(`task '${t.name}' failed: ${messageOf(e)}`)
                  if (t.onError !== undefined && !signals.worker.aborted)
                    yield* guarded(`task '${t.name}' onError`, HOOK_TIMEOUT_MS, () =>
                      t.onError!(e, d.worker.ctx, undefined),
                    )
                }),
              ),
            ),
          ),
        { discard: true },
      ),
      stopping: (graceMs) =>
        Effect.gen(function* () {
          for (const h of def.hooks)
            if (h.event === 'stopping')
              yield* guarded(`on('stopping') hook`, h.timeoutMs, () => h.fn(d.worker.ctx))
          signals.stop()
          // Tasks see their signal abort; one that ignores it is interrupted (left behind) after the grace.
          yield* FiberSet.awaitEmpty(tasks).pipe(
            Effect.timeoutOrElse({ duration: graceMs, orElse: () => Effect.void }),
          )
        }),
    }
  })
