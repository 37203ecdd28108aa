/**
 * A worker whose launcher is gone stops as if it had been signalled. `npx
 * stream-app run app.ts` and `npm start` run the command through `sh -c`: npm
 * passes SIGTERM on to that shell, which dies without passing it to the
 * worker, and the worker is left running with another parent. A process
 * manager stopping the npx process would orphan the worker, or kill it later
 * without a clean leave. The worker therefore watches its parent and, when the
 * parent changes (it exited and the worker was re-parented), commits and
 * leaves the group like on SIGTERM.
 */
import * as Effect from 'effect/Effect'

/** How often the parent pid is read: one cheap syscall (getppid) per poll. */
export const LAUNCHER_POLL_MS = 500

/**
 * Whether `run` watches its parent: `--stop-with-parent` / `--no-stop-with-parent`,
 * else yes when a package runner started it (npm, npx, pnpm and yarn set
 * npm_lifecycle_event), the case where signals do not reach the worker. A
 * worker started directly gets signals itself, and keeps running when its
 * parent goes (nohup, a shell's `&`) as any program does.
 */
export function watchesLauncher(option: unknown, env: NodeJS.ProcessEnv = process.env): boolean {
  if (typeof option === 'boolean') return option
  return Boolean(env.npm_lifecycle_event)
}

/**
 * Completes, with a line saying why, once this process's parent is no longer
 * the one it had when this was called. Output errors are ignored from then on:
 * whoever read the worker's stdout and stderr may have gone with the launcher,
 * and a write to a closed pipe must not crash the worker before it commits.
 */
export const launcherGone: Effect.Effect<string> = Effect.callback<string>((resume) => {
  const parent = process.ppid
  const timer = setInterval(() => {
    const now = process.ppid
    if (now === parent) return
    clearInterval(timer)
    for (const s of [process.stdout, process.stderr]) s.on('error', () => {})
    resume(Effect.succeed(`the process that started this worker (pid ${parent}) exited`))
  }, LAUNCHER_POLL_MS)
  return Effect.sync(() => clearInterval(timer))
})
