/**
 * blockingTimeout (issue 23): the event loop blocked longer than this (a
 * synchronous loop in a handler, a huge JSON.parse) is logged with how long.
 * A real-time timer that should fire every `timeout / 2` measures how late
 * it ran: lateness is the time nothing else could run either. Real time on
 * purpose: a blocked loop is a fact of the process, not of the worker's clock.
 */
import * as Effect from 'effect/Effect'
import type * as Scope from 'effect/Scope'
import type { Logger } from '../definition/types.ts'

export const watchBlocking = (timeoutMs: number, log: Logger): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const every = Math.max(5, Math.floor(timeoutMs / 2))
      let expected = performance.now() + every
      const timer = setInterval(() => {
        const now = performance.now()
        const late = now - expected
        expected = now + every
        if (late > timeoutMs)
          log.warn(`event loop blocked for ${Math.round(late)}ms (blockingTimeout ${timeoutMs}ms)`, {
            blockedMs: Math.round(late),
          })
      }, every)
      timer.unref()
      return timer
    }),
    (timer) => Effect.sync(() => clearInterval(timer)),
  ).pipe(Effect.asVoid)
