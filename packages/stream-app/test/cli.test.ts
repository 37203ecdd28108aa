/** The real CLI, run as a child process against real app files. */
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const MEM = fileURLToPath(new URL('./fixtures/mem-app.ts', import.meta.url))
const NO_EXPORT = fileURLToPath(new URL('./fixtures/no-export.ts', import.meta.url))

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('stream-app CLI', () => {
  it('lists topics, agents, tables and routes as text and JSON (six CLI runs)', () => {
    const topics = cli('topics', MEM)
    expect(topics.code).toBe(0)
    expect(topics.out).toMatch(/^NAME\s+PARTITIONS/m)
    expect(topics.out).toMatch(/^numbers\s+2\s+String\s+Number/m)
    // The app's own topics too, with one copy each on a local broker (in-sync does not apply).
    const rows = JSON.parse(cli('topics', MEM, '--json').out) as Record<string, unknown>[]
    expect(rows.find((t) => t.name === 'numbers')).toMatchObject({
      internal: false,
      replicationFactor: 1,
      describe: 'Numbers to add up',
    })
    expect(rows.find((t) => t.name === 'cli-mem-sum-changelog')).toEqual({
      name: 'cli-mem-sum-changelog',
      partitions: null,
      internal: true,
      replicationFactor: 1,
      inSyncReplicas: null,
    })
    const agents = JSON.parse(cli('agents', MEM, '--json').out)
    expect(agents.map((a: { name: string }) => a.name)).toEqual(['add', 'double'])
    expect(agents.map((a: { describe: string | null }) => a.describe)).toEqual([
      'Adds each number to the total',
      null,
    ])
    expect(JSON.parse(cli('tables', MEM, '--json').out)[0]).toMatchObject({
      name: 'sum',
      changelog: 'cli-mem-sum-changelog',
      describe: 'The running total',
    })
    const routes = cli('routes', MEM).out
    expect(routes).toMatch(/GET\s+\/health/)
    // The JSON the live page reads, and the page itself (the app does not answer / itself).
    expect(routes).toMatch(/^GET\s+\/lag\s+true$/m)
    expect(routes).toMatch(/^GET\s+\/tables\s+true$/m)
    expect(routes).toMatch(/^GET\s+\/\s+true$/m)
  }, 90_000)

  it("runs the app's own commands with typed options", () => {
    const r = cli('greet', MEM, '--name', 'ann', '--times', '2')
    expect(r.code).toBe(0)
    expect(r.out).toBe('hello ann\nhello ann\n')
    expect(cli('twice', MEM, '--n', '21').out).toBe('answer 42\n')
    expect(cli('greet', MEM, '--help').out).toMatch(/--name/)
  })

  it('prints one clear line and exits 1 on bad input', () => {
    const cases: [string[], RegExp][] = [
      [['run', 'missing.ts'], /^stream-app: app file not found: missing\.ts$/],
      [['run', NO_EXPORT], /exports no app: use 'export default app' or 'export const app'$/],
      [
        ['frobnicate', MEM],
        /^stream-app: unknown command 'frobnicate' \(commands: run, send, .*greet, twice, init, help\)$/,
      ],
      [['greet', MEM, '--times', 'x', '--name', 'a'], /^stream-app: option --times must be a number$/],
      [['greet', MEM], /^stream-app: Missing required argument: name$/],
      [['greet', MEM, '--name', 'a', '--bogus'], /^stream-app: Unknown argument: bogus$/],
      [['run'], /^stream-app: missing app file: stream-app run <app-file>$/],
      [
        ['send', MEM, 'numbers', '1'],
        /^stream-app: cannot send to a memory:\/\/ broker from another process/,
      ],
    ]
    for (const [args, pattern] of cases) {
      const r = cli(...args)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.err.trim(), args.join(' ')).toMatch(pattern)
    }
  })

  it('prints its version', () => {
    expect(cli('--version').out.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it('run starts a worker with a banner and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'run', MEM], { stdio: ['ignore', 'pipe', 'pipe'] })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let err = ''
    child.stderr.on('data', (d) => {
      err += String(d)
    })
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner: ${err}`)), 30_000)
      child.stderr.on('data', () => {
        if (/tables: /.test(err)) {
          clearTimeout(t)
          resolve()
        }
      })
    })
    expect(err).toMatch(/stream-app worker 'cli-mem' ready/)
    expect(err).toMatch(/topics: numbers\(2\), double\(8\)/)
    expect(err).toMatch(/agents: add, double/)
    expect(err).toMatch(/tables: sum/)
    child.kill('SIGTERM')
    const code = await new Promise<number | null>((r) => child.on('exit', r))
    expect(code).toBe(0)
    expect(err).toMatch(/SIGTERM received: stopping/)
    expect(err).toMatch(/worker 'cli-mem' stopped/)
  })

  it('--json-logs prints JSON lines and --log-level filters them', async () => {
    const child = spawn(process.execPath, [BIN, 'run', MEM, '--json-logs', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let err = ''
    child.stderr.on('data', (d) => {
      err += String(d)
    })
    // At warn level the banner is filtered out: stop once the worker is up (its web server answers).
    const json = spawn(process.execPath, [BIN, 'run', MEM, '--json-logs'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    onTestFinished(() => {
      if (json.exitCode === null) json.kill('SIGKILL')
    })
    let jerr = ''
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner: ${jerr}`)), 30_000)
      json.stderr.on('data', (d) => {
        jerr += String(d)
        if (/tables: /.test(jerr)) {
          clearTimeout(t)
          resolve()
        }
      })
    })
    const lines = jerr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; msg: string })
    expect(lines.some((l) => l.level === 'info' && /worker 'cli-mem' ready/.test(l.msg))).toBe(true)
    json.kill('SIGTERM')
    child.kill('SIGTERM')
    await new Promise((r) => child.on('exit', r))
    expect(err).not.toMatch(/ready/)
  })
})
