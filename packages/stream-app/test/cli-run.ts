/**
 * The real CLI in a child process, run to completion without blocking the
 * event loop (so a worker in the test process keeps running meanwhile), for
 * the tests of this package. The broker comes from the app or the directory
 * (STREAM_APP_BROKER is cleared). Every child started here is tracked, so a
 * file can SIGKILL what a failed test left running.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))

export interface CliRun {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

const started = new Set<ChildProcess>()

/** `stream-app <args>` in `cwd`, with `input` on stdin when given; rejects after `timeoutMs` with its stderr. */
export function runCli(
  cwd: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const { input, timeoutMs = 60_000 } = options
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, STREAM_APP_BROKER: '' },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    started.add(child)
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')))
    if (input !== undefined) child.stdin!.end(input)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`stream-app ${args.join(' ')} did not finish in ${timeoutMs / 1000}s:\n${err}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      started.delete(child)
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

/** SIGKILLs every CLI child of this file still running (started by runCli). */
export function killStartedClis(): void {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL')
}
