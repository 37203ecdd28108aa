/**
 * The runtime's one retry loop (retry.ts) on Effect's TestClock: a failing
 * step waits the shared backoff, growing while failures repeat, and a step
 * that succeeds starts the next with the backoff reset — no fixed pauses.
 * And the one retry decision: `retriable`, by a failure's tag.
 */
import * as Effect from 'effect/Effect'
import * as Fiber from 'effect/Fiber'
import * as TestClock from 'effect/testing/TestClock'
import { expect, it } from 'vitest'
import {
  AskTimeoutError,
  asFailure,
  BrokerError,
  ConfigError,
  DecodeError,
  EncodeError,
  type Failure,
  IdleTimeoutError,
  NotCopartitionedError,
  NotOwnedError,
  retriable,
  StoppedError,
  StoreError,
  UnexpectedError,
  WorkerFailedError,
} from '../src/definition/errors.ts'
import { BACKOFF_BASE_MS, repeatWithBackoff, retryPromise } from '../src/runtime/retry.ts'

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

it("retryPromise (the adapters' backoff) retries what `retry` allows, hands back the original error otherwise, and gives up after forMs", async () => {
  const transient = Object.assign(new Error('not yet'), { code: 'TRANSIENT' })
  const fatal = new TypeError('broken')
  let tries = 0
  const retried: number[] = []
  const value = await retryPromise(
    async (attempt) => {
      tries++
      if (attempt < 3) throw transient
      return 'done'
    },
    { retry: (e) => e === transient, baseMs: 1, maxMs: 5, onRetry: (_e, delay) => retried.push(delay) },
  )
  expect([value, tries, retried.length]).toEqual(['done', 4, 3])
  // A failure `retry` refuses comes back at once, as it was thrown (not wrapped).
  tries = 0
  const err = await retryPromise(
    async () => {
      tries++
      throw fatal
    },
    { retry: (e) => e === transient, baseMs: 1 },
  ).catch((e: unknown) => e)
  expect([err, tries]).toEqual([fatal, 1])
  // A failure that stays retriable ends once forMs has passed, with that failure.
  const last = await retryPromise(
    async () => {
      throw transient
    },
    { retry: () => true, baseMs: 1, maxMs: 2, forMs: 30 },
  ).catch((e: unknown) => e)
  expect(last).toBe(transient)
})

it('retriable decides by tag: fixed per kind, a broker or store error as its adapter said; anything else is fatal', () => {
  const cases: [Failure, boolean][] = [
    [new BrokerError('Kafka is unreachable', true), true],
    [new BrokerError('the consumer is closed', false), false],
    [new StoreError('the file is locked', true), true],
    [new StoreError('disk full', false), false],
    [new AskTimeoutError('no reply'), true],
    [new NotOwnedError('held elsewhere', 't', 0), true],
    [new IdleTimeoutError('busy'), true],
    [new ConfigError('bad'), false],
    [new DecodeError('t', 0, 1, 'not JSON'), false],
    [new EncodeError('refused'), false],
    [new NotCopartitionedError('not copartitioned'), false],
    [new WorkerFailedError('failed'), false],
    [new StoppedError('stopped'), false],
    [new UnexpectedError(new Error('a bug')), false],
  ]
  expect(cases.map(([f]) => [f._tag, retriable(f)])).toEqual(cases.map(([f, want]) => [f._tag, want]))
  // An error that is not ours counts as fatal, even one that claims to be retriable.
  expect(retriable(asFailure(Object.assign(new Error('raw'), { retriable: true })))).toBe(false)
  expect(retriable(asFailure(new BrokerError('away', true)))).toBe(true)
})
