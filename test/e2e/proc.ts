/**
 * Real worker processes for end-to-end tests: the real CLI in a child process,
 * its log lines collected, its web URL read from the banner, stopped with a
 * signal or killed with SIGKILL. Only processes started here are ever signalled.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../packages/stream-app/bin/stream-app.js', import.meta.url))

export interface WorkerProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything the worker logged so far. */
  log(): string
  /** Resolves with the first match of pattern in the log (waits up to timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** The web base URL from the banner. */
  url(): Promise<string>
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL: a crash with no chance to commit. */
  kill(): Promise<void>
  exited(): Promise<number | null>
}

const started = new Set<ChildProcess>()

export function startWorker(
  args: readonly string[],
  env: Record<string, string> = {},
  cwd?: string,
): WorkerProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    ...(cwd ? { cwd } : {}),
  })
  started.add(child)
  let text = ''
  const listeners = new Set<() => void>()
  const onData = (d: Buffer) => {
    text += d.toString('utf8')
    for (const l of listeners) l()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  void exit.then(() => started.delete(child))
  const waitFor = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = text.match(pattern)
        if (m) {
          cleanup()
          resolve(m)
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out waiting for ${pattern} in:\n${text.slice(-3000)}`))
      }, timeoutMs)
      const onExit = () => {
        check()
        cleanup()
        reject(new Error(`worker exited before ${pattern}:\n${text.slice(-3000)}`))
      }
      const cleanup = () => {
        clearTimeout(timer)
        listeners.delete(check)
        child.off('exit', onExit)
      }
      listeners.add(check)
      child.once('exit', onExit)
      check()
    })
  return {
    child,
    pid: child.pid!,
    log: () => text,
    waitFor,
    url: async () => (await waitFor(/ready .*web=(http:\/\/[\d.:]+)/))[1]!,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      return exit
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exit
    },
    exited: () => exit,
  }
}

/** Kills every worker this module started that is still running (test teardown). */
export async function killAll(): Promise<void> {
  const all = [...started]
  for (const c of all) if (c.exitCode === null) c.kill('SIGKILL')
  await Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))))
}

/** Runs the CLI to completion. */
export function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string } = {},
) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...options.env },
    ...(options.input !== undefined ? { input: options.input } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** GETs JSON (within 10 s): the status and the parsed body. */
export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: (await res.json()) as T }
}

/**
 * Polls fn every `everyMs` until it returns something other than undefined or
 * false; past `timeoutMs` it fails with the last error and `context()`.
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; everyMs?: number; context?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\n${options.context?.() ?? ''}`,
      )
    await new Promise((r) => setTimeout(r, options.everyMs ?? 50))
  }
}

/**
 * A minute boundary `minutesAgo` minutes before now, for event times. Tests use
 * recent event times, never a fixed date: a broker deletes records older than
 * a topic's retention (7 days by default, a day more than the window for a
 * window's changelog) at its next retention check, which may fall mid-test.
 */
export const recentMinute = (minutesAgo = 60): number =>
  Math.floor(Date.now() / 60_000) * 60_000 - minutesAgo * 60_000
