/**
 * The child processes of test/package/pack-install.test.ts: npm, npx and the
 * installed `stream-app`, each in its own process group so that it (and only
 * it) can be stopped, with the environment the installs and apps run in.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'

export const MINUTE = 60_000

export const env: NodeJS.ProcessEnv = { ...process.env }
// The apps run on their default broker, sqlite:// in the directory they run in.
delete env.STREAM_APP_BROKER
delete env.STREAM_APP_JSON_LOGS
env.npm_config_update_notifier = 'false'
env.npm_config_fund = 'false'
env.npm_config_audit = 'false'

/** Runs a command to completion; throws with its output when it fails. */
export function run(cmd: string, args: readonly string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 5 * MINUTE })
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`,
    )
  return r.stdout
}

/** The same, without blocking the test process (so an install can go on while other tests run). */
export function runAsync(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }))
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (out += d))
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed: ${code}\n${out}`)),
    )
  })
}

/** Runs a command without blocking; its exit code and output, whatever the code. */
export function capture(cmd: string, args: readonly string[], cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = track(spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export const npx = (cwd: string, ...args: string[]) =>
  // --no: never fetch a missing package from the registry, use the installed one or fail.
  spawnSync('npx', ['--no', ...args], { cwd, env, encoding: 'utf8', timeout: MINUTE })

// Every process started here runs in its own process group (detached), led by the
// process we spawned: npx does not pass signals on to the command it runs, so the
// group (npx and the stream-app it started) is what gets signalled, and only that.
const started = new Set<ChildProcess>()
function track(child: ChildProcess): ChildProcess {
  started.add(child)
  child.on('close', () => started.delete(child))
  return child
}
export const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    // already gone
  }
}

/** `npx stream-app run <file> --web-port 0` in cwd (or the given command): resolves with the worker's web URL. */
export async function startWorker(
  cwd: string,
  file: string,
  command: readonly string[] = ['npx', '--no', 'stream-app', 'run', file],
) {
  const [cmd, ...args] = command
  const child = track(
    spawn(cmd!, [...args, '--web-port', '0'], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let log = ''
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner from ${file}:\n${log}`)), MINUTE)
    const onData = (d: Buffer) => {
      log += d.toString('utf8')
      const m = /web=(http:\/\/\S+)/.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('close', () => {
      clearTimeout(timer)
      reject(new Error(`${file} exited before its banner:\n${log}`))
    })
  })
  return {
    url,
    log: () => log,
    /** SIGTERM to the group; resolves when the worker has exited (its output closed). */
    stop: async () => {
      signalGroup(child, 'SIGTERM')
      await closed
    },
  }
}

export async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined && ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out; last: ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** SIGKILL to every process group still running (the test file's afterAll). */
export function killStarted() {
  for (const child of started) signalGroup(child, 'SIGKILL')
}
