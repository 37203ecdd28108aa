/**
 * Time for the worker's plain code. Everything time-driven runs on Effect's
 * Clock — the live one in production, Effect's TestClock under app.test() —
 * and the hot path reads it synchronously. A Timekeeper runs callbacks after a
 * delay (take()'s `within`, ask timeouts) as fibers of the worker's scope, so
 * the test clock drives them and stop() interrupts them; `run` runs an Effect
 * the same way (a retry whose backoff and give-up are on the worker's clock).
 */
import * as Clock from 'effect/Clock'
import * as Effect from 'effect/Effect'
import * as FiberSet from 'effect/FiberSet'
import type * as Scope from 'effect/Scope'

export interface Timekeeper {
  /** Milliseconds since the epoch, on the worker's clock. */
  now(): number
  /** Calls fn after `ms` on the worker's clock; returns a cancel function. */
  after(ms: number, fn: () => void): () => void
  /** Resolves after `ms` on the worker's clock (or never, once the worker stopped). */
  sleep(ms: number): Promise<void>
  /** Runs an Effect as a fiber of the worker's scope, on its clock; rejects with what it failed with. */
  run<A, E>(effect: Effect.Effect<A, E>): Promise<A>
}

export const makeTimekeeper: Effect.Effect<Timekeeper, never, Scope.Scope> = Effect.gen(function* () {
  const clock = yield* Clock.Clock
  const run = yield* FiberSet.makeRuntime<never>()
  const runPromise = yield* FiberSet.makeRuntimePromise<never>()
  const after = (ms: number, fn: () => void) => {
    const fiber = run(Effect.sleep(Math.max(0, ms)).pipe(Effect.andThen(Effect.sync(fn))))
    return () => fiber.interruptUnsafe()
  }
  return {
    now: () => clock.currentTimeMillisUnsafe(),
    after,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        after(ms, resolve)
      }),
    run: (effect) => runPromise(effect),
  }
})
