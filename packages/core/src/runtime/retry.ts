/**
 * One backoff for every retry of the runtime: a handler that crashed, a fetch
 * or a send that failed, a reply read that failed. Exponential from 100 ms,
 * doubling, with ±20% jitter (so workers that failed together do not retry in
 * step), at most 30 s apart. It runs on the worker's clock, so app.test()'s
 * test clock drives it.
 */
import * as Duration from 'effect/Duration'
import * as Effect from 'effect/Effect'
import * as FiberSet from 'effect/FiberSet'
import * as Schedule from 'effect/Schedule'
import type * as Scope from 'effect/Scope'
import { asFailure, type Failure, retriableFailure, unwrapFailure } from '../definition/errors.ts'

export const BACKOFF_BASE_MS = 100
export const BACKOFF_MAX_MS = 30_000

const cap = Duration.millis(BACKOFF_MAX_MS)

/** The shared backoff; `onRetry` hears each failure with the delay before the next attempt. */
export const backoff = <E>(onRetry?: (error: E, delayMs: number, attempt: number) => void) =>
  Schedule.exponential(Duration.millis(BACKOFF_BASE_MS), 2).pipe(
    Schedule.jittered,
    Schedule.setInputType<E>(),
    Schedule.modifyDelay(({ duration, input, attempt }) =>
      Effect.sync(() => {
        const delay = Duration.min(duration, cap)
        onRetry?.(input, Duration.toMillis(delay), attempt)
        return delay
      }),
    ),
  )

/**
 * Runs `step` again and again until interrupted. A failing step is told to
 * `onFailure` and run again after the shared backoff; a step that succeeds
 * starts the next one with a fresh backoff (each step retries on its own).
 * The one loop of the runtime's readers: no fixed pause after a failure.
 */
export const repeatWithBackoff = <E>(
  step: Effect.Effect<unknown, E>,
  onFailure: (error: E, delayMs: number) => void,
): Effect.Effect<never> =>
  // The backoff never ends, so the retry never gives up: no failure gets out.
  Effect.forever(step.pipe(Effect.retry({ schedule: backoff<E>(onFailure) }))).pipe(Effect.orDie)

/**
 * Runs `op` until it succeeds, retrying failures the error says a retry can
 * help (`retriable`) with the shared backoff; others fail at once.
 */
export const retrying = <A>(
  op: (signal: AbortSignal) => PromiseLike<A>,
  onRetry: (error: Failure, delayMs: number) => void,
): Effect.Effect<A, Failure> =>
  Effect.tryPromise({ try: op, catch: asFailure }).pipe(
    Effect.retry({ schedule: backoff<Failure>(onRetry), while: retriableFailure }),
  )

/**
 * For plain code (the outbox): a function that retries a send with the shared
 * backoff on the worker's clock, as a fiber of the worker's scope, until it
 * succeeds, fails for good, or `giveUp()` says the worker is closing.
 */
export const retryRunner = (
  onRetry: (error: Failure, delayMs: number) => void,
): Effect.Effect<<T>(send: () => Promise<T>, giveUp: () => boolean) => Promise<T>, never, Scope.Scope> =>
  Effect.map(
    FiberSet.makeRuntimePromise<never>(),
    (run) =>
      <T>(send: () => Promise<T>, giveUp: () => boolean) =>
        run(
          Effect.tryPromise({ try: send, catch: asFailure }).pipe(
            Effect.retry({
              schedule: backoff<Failure>(onRetry),
              while: (e) => retriableFailure(e) && !giveUp(),
            }),
          ),
        ).catch((e: unknown) => {
          // The caller (a user's send) gets back what the send failed with.
          throw unwrapFailure(e)
        }),
  )
