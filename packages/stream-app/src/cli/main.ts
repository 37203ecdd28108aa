/**
 * The CLI's one runtime at the edge (Effect's Runtime.makeRunMain, what
 * NodeRuntime.runMain is built on; @effect/platform-node itself needs Node 22):
 * it runs the program's fiber, turns its exit into the process's exit code
 * once stdout and stderr are flushed, and handles SIGINT/SIGTERM. A program
 * that stops gracefully (a worker: it commits and leaves the group) asks for
 * the signal through Shutdown; any other is interrupted. A second signal
 * exits at once with 130.
 */
import * as Context from 'effect/Context'
import * as Deferred from 'effect/Deferred'
import * as Effect from 'effect/Effect'
import * as Exit from 'effect/Exit'
import * as Runtime from 'effect/Runtime'

export interface ShutdownRequest {
  /** Completed with the signal's name when one arrives (only for a program that said it stops gracefully). */
  readonly requested: Deferred.Deferred<string>
  /** Set by a program that handles the signal itself (the worker of `run`). */
  graceful: boolean
}

export class Shutdown extends Context.Service<Shutdown, ShutdownRequest>()('stream-app/Shutdown') {}

/** A Shutdown nobody signals: the CLI run inside another process (app.main() in a test, say). */
export const noShutdown = (): ShutdownRequest => ({
  requested: Deferred.makeUnsafe<string>(),
  graceful: false,
})

const flushed = (code: number) =>
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))

/** Runs the CLI's program as this process: its exit code is the program's result (1 for a failure). */
export function runMain(program: Effect.Effect<number, unknown, Shutdown>): void {
  const shutdown = noShutdown()
  Runtime.makeRunMain(({ fiber, teardown }) => {
    let signals = 0
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        process.stderr.write(`stream-app: ${sig} again: exiting now\n`)
        process.exit(130)
      }
      if (shutdown.graceful) Deferred.doneUnsafe(shutdown.requested, Exit.succeed(sig))
      else fiber.interruptUnsafe()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    fiber.addObserver((exit) => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      // A client library that failed half way (a broker that refused us) can leave native
      // handles open that would keep the process alive: exit once the output is flushed.
      teardown(exit, flushed)
    })
  })(program.pipe(Effect.provideService(Shutdown, shutdown)), {
    disableErrorReporting: true,
    teardown: (exit, onExit) =>
      Exit.isSuccess(exit) ? onExit(exit.value as number) : Runtime.defaultTeardown(exit, onExit),
  })
}
