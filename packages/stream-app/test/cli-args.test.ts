/**
 * The CLI checks every argument before it acts: a typo'd option sends nothing
 * and starts nothing; app commands take positional arguments; help lists the
 * app's own commands; a broken app file says where; reset says what it
 * deletes; STREAM_APP_BROKER wins over the broker in code; values for string
 * and raw topics need no JSON quoting. The real CLI, in child processes.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openSqliteBroker } from '@stream-app/sqlite'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const APP = fileURLToPath(new URL('./fixtures/sqlite-app.ts', import.meta.url))

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'stream-app-cli-'))
  dirs.push(d)
  return d
}

const cli = (cwd: string, args: string[], env: Record<string, string> = {}, input?: string) => {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, STREAM_APP_BROKER: '', ...env },
    ...(input !== undefined ? { input } : {}),
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Every record of a topic in the sqlite broker file under `dir`, as text. */
async function records(dir: string, topic: string): Promise<{ key: string | null; value: string }[]> {
  const broker = openSqliteBroker({
    path: join(dir, '.stream-app', 'broker.sqlite'),
    maintenanceIntervalMs: 0,
  })
  try {
    const n = (await broker.partitions(topic)) ?? 0
    const out: { key: string | null; value: string }[] = []
    for (let p = 0; p < n; p++) {
      const [end] = await broker.endOffsets([{ topic, partition: p }])
      if (!end?.offset) continue
      const reader = broker.reader([{ topic, partition: p, offset: 0 }])
      try {
        let got = 0
        while (got < end.offset) {
          for (const b of await reader.fetch({ maxRecords: 1000, maxWaitMs: 100 }))
            for (const r of b.records) {
              got++
              out.push({
                key: r.key === null ? null : Buffer.from(r.key).toString(),
                value: Buffer.from(r.value ?? []).toString(),
              })
            }
        }
      } finally {
        await reader.close()
      }
    }
    return out
  } finally {
    await broker.close()
  }
}

describe('the CLI checks its arguments before it acts', { timeout: 120_000 }, () => {
  it('a typo in an option of send sends nothing; one line, exit 1', async () => {
    const dir = tempDir()
    const r = cli(dir, ['send', APP, 'numbers', '7', '--kye', 'ann'])
    expect(r.code).toBe(1)
    expect(r.err.trim()).toBe('stream-app: Unknown argument: kye')
    expect(await records(dir, 'numbers').catch(() => [])).toEqual([])
    const ok = cli(dir, ['send', APP, 'numbers', '7', '--key', 'ann'])
    expect(ok.code, ok.err).toBe(0)
    expect(await records(dir, 'numbers')).toEqual([{ key: 'ann', value: '7' }])
    const bad = cli(dir, ['send', APP, 'numbers', '8', '--partition', 'x'])
    expect(bad.err.trim()).toBe('stream-app: option --partition must be a number')
    expect(await records(dir, 'numbers')).toHaveLength(1)
  })

  it('run with an unknown option exits at once, before any worker starts', () => {
    const dir = tempDir()
    const r = cli(dir, ['run', APP, '--bogus'])
    expect(r.code).toBe(1)
    expect(r.err.trim()).toBe('stream-app: Unknown argument: bogus')
    expect(r.err).not.toMatch(/ready|listening/)
  })

  it('app commands take positional arguments, and args._ holds no command name', () => {
    const dir = tempDir()
    const r = cli(dir, ['greet', APP, 'ann', '2', '--shout'])
    expect(r.err).toBe('')
    expect(r.out).toBe('HELLO ANN\nHELLO ANN\nrest=[]\n')
    expect(cli(dir, ['greet', APP, 'bob']).out).toBe('hello bob\nrest=[]\n')
    const missing = cli(dir, ['greet', APP])
    expect(missing.code).toBe(1)
    expect(missing.err.trim()).toBe('stream-app: Missing required argument: name')
    const nan = cli(dir, ['greet', APP, 'ann', 'many'])
    expect(nan.err.trim()).toBe("stream-app: argument 'times' must be a number")
  })

  it("help, and --help after the app file, list the app's own commands", () => {
    const dir = tempDir()
    for (const args of [
      ['help', APP],
      [APP, '--help'],
    ]) {
      const r = cli(dir, args)
      expect(r.code, args.join(' ')).toBe(0)
      expect(r.out).toMatch(/^ {2}run <app> /m)
      expect(r.out).toMatch(/^ {2}init <dir> /m)
      expect(r.out).toMatch(/Commands of app 'cli-args'/)
      expect(r.out).toMatch(/^ {2}greet <app> <name> \[times\] +Say hello to someone \(--shout boolean/m)
      expect(r.out).toMatch(/^ {2}where <app> +Print the broker/m)
    }
    const one = cli(dir, ['greet', APP, '--help'])
    expect(one.code).toBe(0)
    expect(one.out).toMatch(/--shout/)
  })

  it('an app file that does not load says where and why, in one line', () => {
    const dir = tempDir()
    writeFileSync(
      join(dir, 'syntax.ts'),
      "import { createApp } from 'stream-app'\nexport const app = createApp({ id: 'x' }\nconst = 5\n",
    )
    writeFileSync(join(dir, 'throws.ts'), "throw new Error('no config for you')\n")
    const s = cli(dir, ['topics', 'syntax.ts'])
    expect(s.code).toBe(1)
    expect(s.err.trim().split('\n')).toHaveLength(1)
    expect(s.err.trim()).toMatch(/^stream-app: cannot load syntax\.ts:3:1: Expected "\)" but found "const"$/)
    const t = cli(dir, ['topics', 'throws.ts'])
    expect(t.err.trim()).toBe('stream-app: cannot load throws.ts: no config for you')
  })

  it('reset says what it deletes', () => {
    const dir = tempDir()
    expect(cli(dir, ['reset', APP]).out.trim()).toBe('nothing to reset: .stream-app/cli-args does not exist')
    expect(cli(dir, ['greet', APP, 'x']).code).toBe(0)
    const r = cli(dir, ['reset', APP])
    expect(r.out.trim()).toMatch(/^removed \.stream-app\/cli-args \(the table store of 'cli-args'/)
  })

  it("reset --topics deletes the app's embedded-broker topics and group, never while a worker runs", async () => {
    const dir = tempDir()
    expect(cli(dir, ['send', APP, 'texts', 'kept until reset']).code).toBe(0)
    // Another app's topic in the same broker file survives the reset.
    const other = openSqliteBroker({
      path: join(dir, '.stream-app', 'broker.sqlite'),
      maintenanceIntervalMs: 0,
    })
    await other.ensureTopics([{ name: 'someone-elses', partitions: 1 }])
    other.append([{ topic: 'someone-elses', partition: 0, key: null, value: Buffer.from('x'), timestamp: 0 }])
    await other.close()

    const child = spawn(process.execPath, [BIN, 'run', APP], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let err = ''
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (d) => {
        err += String(d)
        if (/ready/.test(err)) resolve()
      }),
    )
    const refused = cli(dir, ['reset', APP, '--topics'])
    expect(refused.code).toBe(1)
    expect(refused.err.trim()).toMatch(
      new RegExp(
        `^stream-app: reset: 1 worker\\(s\\) of 'cli-args' are running \\(pid ${child.pid} on .+\\); stop them first$`,
      ),
    )
    expect((await records(dir, 'texts')).map((r) => r.value)).toEqual(['kept until reset'])

    child.kill('SIGINT')
    expect(await new Promise((r) => child.on('exit', r))).toBe(0)
    const r = cli(dir, ['reset', APP, '--topics'])
    expect(r.code).toBe(0)
    const lines = r.out.trim().split('\n')
    expect(lines).toContain('deleted topic texts (1 records)')
    expect(lines).toContain('deleted topic numbers (0 records)')
    expect(lines.some((l) => /^deleted topic cli-args-__replies \(\d+ records\)$/.test(l))).toBe(true)
    expect(lines).toContain('deleted consumer group cli-args (its members and committed offsets)')
    expect(lines.at(-1)).toMatch(/^removed \.stream-app\/cli-args /)
    const after = openSqliteBroker({
      path: join(dir, '.stream-app', 'broker.sqlite'),
      maintenanceIntervalMs: 0,
    })
    try {
      expect(await after.partitions('texts')).toBeUndefined()
      expect(await after.partitions('someone-elses')).toBe(1)
    } finally {
      await after.close()
    }
    const memory = cli(dir, ['reset', APP, '--topics', '--broker', 'memory://'])
    expect(memory.err.trim()).toBe(
      "stream-app: reset --topics deletes topics on the embedded sqlite:// broker only; the app's broker is memory://",
    )
  })

  it('STREAM_APP_BROKER wins over the broker in code', () => {
    const dir = tempDir()
    const inCode = fileURLToPath(new URL('./fixtures/broker-in-code.ts', import.meta.url))
    expect(cli(dir, ['where', inCode]).out.trim()).toBe('sqlite://code.sqlite')
    expect(cli(dir, ['where', inCode], { STREAM_APP_BROKER: 'sqlite://env.sqlite' }).out.trim()).toBe(
      'sqlite://env.sqlite',
    )
  })

  it('a string topic takes the line as text and a raw topic its bytes: no JSON quoting', async () => {
    const dir = tempDir()
    expect(cli(dir, ['send', APP, 'texts', '7']).code).toBe(0)
    expect(cli(dir, ['send', APP, 'texts', '{"not":"parsed"}']).code).toBe(0)
    expect(cli(dir, ['send', APP, 'blobs', 'bytes as typed']).code).toBe(0)
    expect(cli(dir, ['send', APP, 'numbers', '7', '--string', '--key', 'k']).err.trim()).toMatch(
      /^stream-app: cannot encode value for topic 'numbers'.*nothing was sent$/,
    )
    expect(cli(dir, ['send', APP, 'numbers', '7', '--raw']).err.trim()).toBe(
      "stream-app: --raw sends bytes, for a topic of codec 'raw'; 'numbers' has codec 'json'",
    )
    expect((await records(dir, 'texts')).map((r) => r.value)).toEqual(['7', '{"not":"parsed"}'])
    expect((await records(dir, 'blobs')).map((r) => r.value)).toEqual(['bytes as typed'])
  })
})

describe('run under signals', { timeout: 60_000 }, () => {
  it('SIGINT stops the worker cleanly: exit 0, after a commit', async () => {
    const dir = tempDir()
    const child = spawn(process.execPath, [BIN, 'run', APP], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let err = ''
    const ready = new Promise<void>((resolve) =>
      child.stderr.on('data', (d) => {
        err += String(d)
        if (/ready/.test(err)) resolve()
      }),
    )
    await ready
    child.kill('SIGINT')
    expect(await new Promise((r) => child.on('exit', r))).toBe(0)
    expect(err).toMatch(/SIGINT received: stopping/)
    expect(err).toMatch(/worker 'cli-args' stopped/)
  })
})
