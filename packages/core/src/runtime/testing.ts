/**
 * The clock of app.test(): Effect's TestClock (with its tracking scheduler,
 * which lets a woken fiber run until it waits again), seen through a Clock
 * that remembers when each pending sleep falls due. The test worker's
 * `advance(ms)` moves the test clock to each of those moments in turn and lets
 * the worker settle after each, so when it returns everything that time made
 * due has run: timers, cron jobs, commits, window expiry and what they set off.
 */
import * as Clock from 'effect/Clock'
import * as Context from 'effect/Context'
import * as Duration from 'effect/Duration'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import * as Scheduler from 'effect/Scheduler'
import * as TestClock from 'effect/testing/TestClock'

export interface TestTime {
  /** The test clock's now. */
  now(): number
  /** The earliest moment a pending sleep falls due, or Infinity. */
  nextDue(): number
  /** Moves the test clock to `ms` (never back), waking what falls due on the way. */
  setTime(ms: number): Effect.Effect<void>
}

export class TestTimeService extends Context.Service<TestTimeService, TestTime>()('stream-app/TestTime') {}

/**
 * Effect's TestClock started at `start`, its scheduler, and the TestTime that
 * drives it (also handed to `ready` when the layer is built).
 */
export const testTimeLayer = (
  start: number,
  ready?: (time: TestTime) => void,
): Layer.Layer<TestTimeService> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const inner = yield* TestClock.testClockWith(Effect.succeed)
      const scheduler = yield* Scheduler.Scheduler
      const due: number[] = []
      const clock: Clock.Clock = {
        currentTimeMillisUnsafe: () => inner.currentTimeMillisUnsafe(),
        currentTimeMillis: inner.currentTimeMillis,
        currentTimeNanosUnsafe: () => inner.currentTimeNanosUnsafe(),
        currentTimeNanos: inner.currentTimeNanos,
        monotonicTimeNanosUnsafe: () => inner.monotonicTimeNanosUnsafe(),
        monotonicTimeNanos: inner.monotonicTimeNanos,
        sleep: (d) =>
          Effect.suspend(() => {
            const at = inner.currentTimeMillisUnsafe() + Duration.toMillis(d)
            due.push(at)
            return inner.sleep(d).pipe(
              Effect.ensuring(
                Effect.sync(() => {
                  const i = due.indexOf(at)
                  if (i !== -1) due.splice(i, 1)
                }),
              ),
            )
          }),
      }
      // Setting the time first also tells the TestClock that time is driven (no "not advancing" warning).
      yield* inner.setTime(start)
      const time: TestTime = {
        now: () => inner.currentTimeMillisUnsafe(),
        nextDue: () => {
          let next = Number.POSITIVE_INFINITY
          for (const at of due) if (at < next) next = at
          return next
        },
        setTime: (ms) => inner.setTime(Math.max(ms, inner.currentTimeMillisUnsafe())),
      }
      ready?.(time)
      return Context.make(Clock.Clock, clock).pipe(
        Context.add(Scheduler.Scheduler, scheduler),
        Context.add(TestTimeService, time),
      )
    }),
  ).pipe(Layer.provide(TestClock.layer()))
