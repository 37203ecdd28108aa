/**
 * What runs on the clock: commits every commitInterval, timers, cron jobs and
 * window expiry, each a fiber of the worker (Effect.repeat on a Schedule, so
 * app.test()'s test clock drives them and stop() interrupts them). A beat that
 * comes while the worker recovers a rebalance is skipped, not the schedule; a
 * run slower than its interval does not pile up; a failing run is logged (and
 * told to its onError) and later runs still happen. A cron job without a time
 * zone runs in the app's (default UTC); one with onLeader, as a timer with it,
 * only on the worker that holds the group's leader partition.
 */
import { Cron } from 'croner'
import * as Clock from 'effect/Clock'
import * as Effect from 'effect/Effect'
import * as Schedule from 'effect/Schedule'
import type * as Scope from 'effect/Scope'
import type { AppDefinition, CronDef, TimerDef } from '../definition/definition.ts'
import { messageOf } from '../definition/errors.ts'
import type { OnErrorFn } from '../definition/lifecycle.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type { Assignment } from './assignment.ts'
import type { Activity } from './internal/activity.ts'
import type { TableRuntime } from './internal/tables.ts'
import { type Lifecycle, wallClock } from './lifecycle.ts'
import { isRunning, type WorkerStatus } from './worker-state.ts'

export interface ScheduleDeps {
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly activity: Activity
  /** Runs happen only while it runs; its ctx is that of timers and cron jobs. */
  readonly worker: Pick<WorkerStatus, 'state'> & { readonly ctx: unknown }
  /** onLeader timers and cron jobs run on the leader only. */
  readonly assignment: Pick<Assignment, 'isLeader'>
  /** Commits every commitInterval. */
  readonly committer: { commit(): Promise<void> }
  /** Tells a timer's or cron job's onError of a failed run. */
  readonly lifecycle: Pick<Lifecycle, 'onError'>
  /** How long a stop waits for the runs in progress (real time, also under app.test()). */
  readonly stopTimeoutMs: number
}

/** Timer and cron runs in progress (idle() and stop() wait for them). */
export class Runs {
  private readonly running = new Set<Promise<void>>()
  constructor(private readonly activity: Activity) {}
  get active(): number {
    return this.running.size
  }
  /** Runs fn, logging a failure instead of failing (and telling `failed`); counted while it runs. */
  guarded(
    kind: string,
    name: string,
    fn: () => unknown,
    log: Logger,
    failed?: (e: unknown) => Promise<void>,
  ): Effect.Effect<void> {
    return Effect.promise(() => {
      const p = (async () => {
        try {
          await fn()
        } catch (e) {
          log.error(`${kind} '${name}' failed: ${messageOf(e)}`)
          await failed?.(e)
        }
      })()
      this.running.add(p)
      return p.finally(() => {
        this.running.delete(p)
        this.activity.notify()
      })
    })
  }
  /** Resolves when every run in progress has finished (their fibers may be gone: a stop). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running])
  }
}

/** Runs `body` every `ms` on the worker's clock, first after `ms`; only while the worker is running. */
const every = (ms: number, running: () => boolean, body: Effect.Effect<void>) =>
  Effect.sleep(ms).pipe(
    Effect.andThen(
      Effect.repeat(
        Effect.suspend(() => (running() ? body : Effect.void)),
        Schedule.fixed(ms),
      ),
    ),
  )

/** Runs `body` at each time the cron expression names, on the worker's clock. */
const onCron = (c: CronDef, timezone: string, running: () => boolean, body: Effect.Effect<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => new Cron(c.schedule, { paused: true, timezone: c.timezone ?? timezone })),
    (cron) => Effect.sync(() => cron.stop()),
  ).pipe(
    Effect.flatMap((cron) =>
      Effect.gen(function* () {
        let from = yield* Clock.currentTimeMillis
        for (;;) {
          const next = cron.nextRun(new Date(from))?.getTime()
          if (next === undefined) return
          const now = yield* Clock.currentTimeMillis
          if (next > now) yield* Effect.sleep(next - now)
          if (running()) yield* body
          from = Math.max(next, yield* Clock.currentTimeMillis)
        }
      }),
    ),
  )

/**
 * Forks every scheduled fiber into the current scope; closing it waits (up to
 * stopTimeoutMs) for the runs in progress, whose fibers it has interrupted.
 */
export const startSchedules = (d: ScheduleDeps, runs: Runs): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { def, log, worker } = d
    yield* Effect.addFinalizer(() =>
      wallClock(
        Effect.promise(() => runs.settled()).pipe(
          Effect.timeoutOrElse({
            duration: d.stopTimeoutMs,
            orElse: () =>
              Effect.sync(() => log.warn(`timer or cron runs still running after ${d.stopTimeoutMs}ms`)),
          }),
        ),
      ),
    )
    const running = () => isRunning(worker)
    const commit = Effect.promise(() => d.committer.commit().catch(() => {}))
    yield* Effect.forkScoped(every(d.config.commitIntervalMs, running, commit))
    const failed = (what: string, onError: OnErrorFn | undefined) =>
      onError === undefined ? undefined : (e: unknown) => d.lifecycle.onError(what, onError, e, worker.ctx)
    const onLeader = (yes: boolean | undefined, run: Effect.Effect<void>) =>
      yes ? Effect.suspend(() => (d.assignment.isLeader() ? run : Effect.void)) : run
    for (const t of Object.values(def.timers) as TimerDef[]) {
      const run = runs.guarded(
        'timer',
        t.name,
        () => t.fn(worker.ctx),
        log,
        failed(`timer '${t.name}'`, t.onError),
      )
      yield* Effect.forkScoped(every(t.everyMs, running, onLeader(t.onLeader, run)))
    }
    const zone = d.config.timezone ?? 'UTC'
    for (const c of Object.values(def.crons) as CronDef[]) {
      const what = `cron job '${c.name}'`
      const run = runs.guarded('cron job', c.name, () => c.fn(worker.ctx), log, failed(what, c.onError))
      yield* Effect.forkScoped(onCron(c, zone, running, onLeader(c.onLeader, run)))
    }
    for (const t of d.tables.values()) {
      const expires = t.kind.expiresMs
      if (expires === undefined) continue
      const expire = Effect.sync(() => {
        const n = t.expire()
        if (n) log.debug(`table '${t.name}': ${n} expired windows dropped`)
      })
      yield* Effect.forkScoped(every(Math.max(1000, Math.min(expires, 30_000)), running, expire))
    }
  })
