/**
 * The runtime's one retry loop (retry.ts) on Effect's TestClock: a failing
 * step waits the shared backoff, growing while failures repeat, and a step
 * that succeeds starts the next with the backoff reset — no fixed pauses.
 */
import * as Effect from 'effect/Effect'
import * as Fiber from 'effect/Fiber'
import * as TestClock from 'effect/testing/TestClock'
import { expect, it } from 'vitest'
import { BACKOFF_BASE_MS, repeatWithBackoff } from '../src/runtime/retry.ts'

it('repeatWithBackoff grows the pause while a step keeps failing and resets it after a success', async () => {
  // Each step's outcome in turn: three failures, a success, one failure, then successes.
  const script = ['fail', 'fail', 'fail', 'ok', 'fail']
  const delays: number[] = []
  let runs = 0
  const step = Effect.suspend(() => {
    const outcome = script[runs++] ?? 'ok'
    return outcome === 'fail' ? Effect.fail(`failure ${runs}`) : Effect.void
  })
  await Effect.runPromise(
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(
        repeatWithBackoff(step, (_e, delay) => {
          delays.push(delay)
        }),
      )
      // Move the clock until the script is played out (each retry waits at most a few seconds here).
      for (let i = 0; i < 200 && runs < script.length + 3; i++) yield* TestClock.adjust(50)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(TestClock.layer())),
  )
  expect(runs, `runs ${runs}, delays ${delays.join(',')}`).toBeGreaterThanOrEqual(script.length + 3)
  expect(delays).toHaveLength(4)
  const [a, b, c, afterSuccess] = delays as [number, number, number, number]
  // Jittered exponential: each pause about twice the one before, the first about the base.
  expect(a).toBeGreaterThan(BACKOFF_BASE_MS * 0.5)
  expect(a).toBeLessThan(BACKOFF_BASE_MS * 1.5)
  expect(b).toBeGreaterThan(a)
  expect(c).toBeGreaterThan(b)
  // After a success the next failure waits the base again, not the grown pause.
  expect(afterSuccess).toBeLessThan(BACKOFF_BASE_MS * 1.5)
})
