/**
 * What a deploy relies on, with the real CLI in child processes on the
 * embedded sqlite:// broker: `wait-ready` returns only once the worker runs
 * and its group has settled (and fails with one line when it never does), and
 * a worker started the documented way, `npx stream-app run`, stops cleanly —
 * commits and leaves its group — when the npx process gets SIGTERM, although
 * the shell npm runs it under does not pass the signal on.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GROUP_SETTLE_MS } from '@stream-app/core/runtime'
import { openSqliteBroker } from '@stream-app/sqlite'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { watchesLauncher } from '../src/cli/launcher.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const APP = fileURLToPath(new URL('./fixtures/deploy-app.ts', import.meta.url))

const dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'stream-app-deploy-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })

interface Proc {
  readonly child: ChildProcess
  /** Everything written to stdout and stderr so far. */
  out(): string
  err(): string
  waitFor(pattern: RegExp, what: string, timeoutMs?: number): Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

/** A child process of this test, killed at the end of the test if still running. */
function start(command: string, args: readonly string[], cwd: string): Proc {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8')
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8')
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor: (pattern, what, timeoutMs = 60_000) =>
      until(
        what,
        () => (out + err).match(pattern) ?? undefined,
        timeoutMs,
        () => out + err,
      ),
  }
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  state: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${state()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const health = async (base: string) => {
  try {
    const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5_000) })
    return { status: res.status, body: (await res.json()) as { pid?: number; group?: string } }
  } catch {
    return undefined
  }
}

/** The process is gone (a zombie nobody reaped yet counts as gone: it runs nothing). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return true
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? false
  } catch {
    return true
  }
}

/** Log timestamps of a worker's lines that match. */
const times = (log: string, pattern: RegExp) =>
  log
    .split('\n')
    .filter((l) => pattern.test(l))
    .map((l) => Date.parse(l.slice(0, 24)))

describe('stream-app wait-ready', { timeout: 120_000 }, () => {
  it('waits through "not answering" and the settle period, then exits 0 with the /health JSON', async () => {
    const dir = tempDir()
    const port = await freePort()
    const broker = ['--broker', `sqlite://${join(dir, 'broker.sqlite')}`, '--datadir', join(dir, 'data')]
    // No --url: the URL comes from the app's web config (here its port given as to `run`).
    const wait = start(process.execPath, [BIN, 'wait-ready', APP, '--web-port', String(port)], dir)
    await wait.waitFor(/not answering/, 'the first progress line of wait-ready')
    const worker = start(process.execPath, [BIN, 'run', APP, '--web-port', String(port), ...broker], dir)
    const code = await wait.exited
    const exitedAt = Date.now()
    const log = worker.out() + worker.err()
    expect(code, wait.err()).toBe(0)
    expect(wait.err()).toMatch(
      new RegExp(
        `^stream-app wait-ready: http://127\\.0\\.0\\.1:${port}: not answering \\(ECONNREFUSED\\)`,
        'm',
      ),
    )
    expect(wait.err()).toMatch(/is ready, group stable \(after \d+\.\ds\)\n$/)
    expect(JSON.parse(wait.out())).toMatchObject({ status: 'ok', state: 'running', group: 'stable' })
    // Not before the group had gone the settle period without a change: the 503s in between were waited out.
    const assigned = times(log, /partitions assigned/)
    expect(assigned.length, log).toBeGreaterThan(0)
    expect(exitedAt).toBeGreaterThanOrEqual(Math.max(...assigned) + GROUP_SETTLE_MS)

    // Given the URL, a ready worker is ready at once.
    const again = spawnSync(
      process.execPath,
      [BIN, 'wait-ready', APP, '--url', `http://127.0.0.1:${port}/`, '--timeout', '30s'],
      { cwd: dir, encoding: 'utf8', timeout: 60_000 },
    )
    expect(again.status, again.stderr).toBe(0)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    worker.child.kill('SIGTERM')
    expect(await worker.exited).toBe(0)
  })

  it('is listed by help, and its --help names its options', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 })
    const help = run('help')
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^ {2}wait-ready <app> +wait until a worker is ready and its group stable/m)
    const own = run('wait-ready', APP, '--help')
    expect(own.status).toBe(0)
    for (const o of ['--url', '--timeout', '--web-port']) expect(own.stdout).toContain(o)
  })

  it('gives up after --timeout with one line saying the last state, and refuses a timeout without a unit', async () => {
    const dir = tempDir()
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const r = spawnSync(process.execPath, [BIN, 'wait-ready', APP, '--url', url, '--timeout', '1s'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `stream-app: wait-ready: ${url} not ready after 1.0s; last: not answering (ECONNREFUSED)`,
    )
    const bad = spawnSync(process.execPath, [BIN, 'wait-ready', APP, '--url', url, '--timeout', '90'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(bad.status).toBe(1)
    expect(bad.stderr.trim()).toBe('stream-app: --timeout: give a unit, e.g. 90s (got "90")')
  })
})

describe('npx stream-app run, stopped by SIGTERM to the npx process', { timeout: 120_000 }, () => {
  it('watches its launcher when a package runner started it, or when told to', () => {
    expect(watchesLauncher(undefined, { npm_lifecycle_event: 'npx' })).toBe(true)
    expect(watchesLauncher(undefined, { npm_lifecycle_event: 'start' })).toBe(true)
    // Started directly, signals reach it; it outlives its parent like any program (nohup, `&`).
    expect(watchesLauncher(undefined, {})).toBe(false)
    expect(watchesLauncher(false, { npm_lifecycle_event: 'npx' })).toBe(false)
    expect(watchesLauncher(true, {})).toBe(true)
  })

  it('stops the worker, which commits what it processed and leaves its group', async () => {
    const dir = tempDir()
    const file = join(dir, 'broker.sqlite')
    // From the repository root, as the README runs it; the broker and state in a temp dir.
    const npx = start(
      'npx',
      [
        'stream-app',
        'run',
        APP,
        '--broker',
        `sqlite://${file}`,
        '--datadir',
        join(dir, 'data'),
        '--web-port',
        '0',
      ],
      ROOT,
    )
    const url = (await npx.waitFor(/ready .*web=(http:\/\/[\d.:]+)/, 'the worker banner'))[1]!
    const ready = await until(
      '/health to be 200',
      async () => {
        const h = await health(url)
        return h?.status === 200 ? h.body : undefined
      },
      60_000,
      npx.err,
    )
    const pid = ready.pid!
    // The worker is not the process npx is: the signal has to reach it some other way.
    expect(pid).not.toBe(npx.child.pid)
    onTestFinished(() => {
      if (!gone(pid)) process.kill(pid, 'SIGKILL')
    })

    const broker = openSqliteBroker({ path: file, maintenanceIntervalMs: 0 })
    try {
      const n = 10
      broker.append(
        Array.from({ length: n }, (_, i) => ({
          topic: 'numbers',
          partition: i % 2,
          key: Buffer.from(`k${i}`),
          value: Buffer.from(String(i + 1)),
          timestamp: Date.now(),
        })),
      )
      await until(
        'the worker to sum what was sent',
        async () => {
          const r = await fetch(`${url}/sum`).then((res) => res.json() as Promise<{ sum: number }>)
          return r.sum === (n * (n + 1)) / 2 ? true : undefined
        },
        60_000,
        () => npx.out() + npx.err(),
      )
      // Nothing committed yet (commitInterval 1h): what is committed below is the stop's doing.
      const committed = () =>
        broker.db
          .prepare<[string, string], { part: number; next_offset: number }>(
            'SELECT part, next_offset FROM group_offsets WHERE grp = ? AND topic = ? ORDER BY part',
          )
          .all('deploy', 'numbers')
      expect(committed().every((c) => c.next_offset === 0)).toBe(true)

      npx.child.kill('SIGTERM')
      await npx.exited
      await until(
        `worker pid ${pid} to exit by itself`,
        () => (gone(pid) ? true : undefined),
        60_000,
        () => npx.out() + npx.err(),
      )
      const log = npx.out() + npx.err()
      expect(log).toMatch(/the process that started this worker \(pid \d+\) exited: stopping/)
      expect(log).toContain("worker 'deploy' stopped")
      expect(committed(), log).toEqual([
        { part: 0, next_offset: n / 2 },
        { part: 1, next_offset: n / 2 },
      ])
      const members = broker.db
        .prepare<[string], { pid: number }>('SELECT pid FROM group_members WHERE grp = ?')
        .all('deploy')
      expect(members, log).toEqual([])
    } finally {
      await broker.close()
    }
  })
})
