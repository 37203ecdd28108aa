/**
 * One backoff for every retry of the runtime: a handler that crashed, a fetch
 * or a send that failed, a reply read that failed. Exponential from 100 ms,
 * doubling, with ±20% jitter (so workers that failed together do not retry in
 * step), at most 30 s apart. It runs on the worker's clock, so app.test()'s
 * test clock drives it.
 */
import * as Clock from 'effect/Clock'
import * as Duration from 'effect/Duration'
import * as Effect from 'effect/Effect'
import * as FiberSet from 'effect/FiberSet'
import * as Schedule from 'effect/Schedule'
import type * as Scope from 'effect/Scope'
import { asFailure, type Failure, retriable, unwrapFailure } from '../definition/errors.ts'

export const BACKOFF_BASE_MS = 100
export const BACKOFF_MAX_MS = 30_000

/** Where an adapter's backoff starts and where it stops growing (the runtime's: 100 ms to 30 s). */
export interface BackoffBounds {
  readonly baseMs?: number
  readonly maxMs?: number
}

/** The shared backoff; `onRetry` hears each failure with the delay before the next attempt. */
export const backoff = <E>(
  onRetry?: (error: E, delayMs: number, attempt: number) => void,
  bounds: BackoffBounds = {},
) => {
  const cap = Duration.millis(bounds.maxMs ?? BACKOFF_MAX_MS)
  return Schedule.exponential(Duration.millis(bounds.baseMs ?? BACKOFF_BASE_MS), 2).pipe(
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
}

export interface RetryPromiseOptions extends BackoffBounds {
  /** Whether this failure is worth another try (the adapter's own judgement: codes, closing). */
  readonly retry: (error: unknown) => boolean
  /** Gives up (with the last failure) once this long has passed since the first try. */
  readonly forMs?: number
  /** Hears each failure that is retried, with the pause before the next try. */
  readonly onRetry?: (error: unknown, delayMs: number, attempt: number) => void
}

/**
 * The shared backoff for adapters, whose code is promises: runs `op` until it
 * succeeds, or fails with what a try failed with once `retry` says no or
 * `forMs` has passed. The same schedule as the runtime's retries, so every
 * adapter backs off alike instead of each with its own sleeps.
 */
export const retryPromise = <A>(
  op: (attempt: number) => PromiseLike<A>,
  o: RetryPromiseOptions,
): Promise<A> =>
  Effect.runPromise(
    Effect.suspend(() => {
      let attempt = 0
      const since = Date.now()
      return Effect.tryPromise({ try: () => op(attempt++), catch: asFailure }).pipe(
        Effect.retry({
          schedule: backoff<Failure>((e, delay, n) => o.onRetry?.(unwrapFailure(e), delay, n), o),
          while: (e) => o.retry(unwrapFailure(e)) && (o.forMs === undefined || Date.now() - since < o.forMs),
        }),
      )
    }),
  ).catch((e: unknown) => {
    throw unwrapFailure(e)
  })

export interface RetryUntilOptions extends BackoffBounds {
  /**
   * Whether this failure (as a Failure: decide by its tag) is worth another try,
   * `elapsedMs` after the first try began, measured on Effect's clock (the test
   * clock under app.test()).
   */
  readonly retry: (failure: Failure, elapsedMs: number) => boolean
  /** Hears each failure that is retried, with the pause before the next try. */
  readonly onRetry?: (error: unknown, delayMs: number) => void
}

/**
 * Runs `op` with the shared backoff until it succeeds, or fails with what a try
 * failed with once `retry` says no. Deadlines (`elapsedMs`) and pauses are on
 * Effect's clock, so the test clock drives a give-up as it drives the backoff.
 */
export const retryUntil = <A>(op: () => PromiseLike<A>, o: RetryUntilOptions): Effect.Effect<A, Failure> =>
  Effect.flatMap(Clock.currentTimeMillis, (since) =>
    Effect.tryPromise({ try: op, catch: asFailure }).pipe(
      Effect.retry(
        Schedule.exponential(Duration.millis(o.baseMs ?? BACKOFF_BASE_MS), 2).pipe(
          Schedule.jittered,
          Schedule.setInputType<Failure>(),
          // Decided before the delay is told: a failure that is not retried is not said to be.
          Schedule.while(({ input, now }) => o.retry(input, now - since)),
          Schedule.modifyDelay(({ duration, input }) =>
            Effect.sync(() => {
              const delay = Duration.min(duration, Duration.millis(o.maxMs ?? BACKOFF_MAX_MS))
              o.onRetry?.(unwrapFailure(input), Duration.toMillis(delay))
              return delay
            }),
          ),
        ),
      ),
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
    Effect.retry({ schedule: backoff<Failure>(onRetry), while: retriable }),
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
              while: (e) => retriable(e) && !giveUp(),
            }),
          ),
        ).catch((e: unknown) => {
          // The caller (a user's send) gets back what the send failed with.
          throw unwrapFailure(e)
        }),
  )
