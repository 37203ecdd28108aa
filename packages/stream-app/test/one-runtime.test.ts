/**
 * The CLI runs one runtime (issue 21): a command builds its worker and the
 * adapters inside the CLI's own Effect program, in the command's scope, rather
 * than a second runtime per command. The structure is checked in the sources
 * (each rule names the offending file); the behaviour in-process: the
 * command's scope owns the worker (its services stop before the command
 * returns) and a start that fails closes what it opened, with one line and
 * exit code 1.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../src/cli/index.ts'
import { createApp } from '../src/index.ts'

const src = join(import.meta.dirname, '../src')
const entry = join(import.meta.dirname, '../../core/src/runtime/entry.ts')
const sources = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f))
const matching = (files: readonly string[], re: RegExp): string[] =>
  files.filter((f) => re.test(readFileSync(f, 'utf8'))).map((f) => relative(src, f))

describe('one runtime', () => {
  it('no second runtime: no ManagedRuntime in the package; the CLI starts no worker through launch()', () => {
    const all = sources(src)
    const cli = sources(join(src, 'cli'))
    expect(cli.length).toBeGreaterThan(8)
    expect(matching(all, /ManagedRuntime/)).toEqual([])
    // Adapters come from their layers (adapters.ts): no command opens a broker or store inline.
    expect(matching(cli, /\bopenSqlite(Broker|Store)\b|\bopenKafkaBroker\b|new MemoryBroker\b/)).toEqual([])
    expect(matching(cli, /\blaunch\s*\(|\bstartWorker\b|\bstartClient\b|\bstartRuntime\b/)).toEqual([])
    // The one place the CLI's program is run inside another process (runMain is the edge otherwise).
    expect(matching(cli, /Effect\.run\w*\s*\(/)).toEqual(['cli/index.ts'])
    expect(readFileSync(join(src, 'cli/index.ts'), 'utf8').match(/Effect\.run\w*\s*\(/g)).toHaveLength(1)
    // launch() is the scoped worker Effect run as a promise, not a runtime of its own.
    const e = readFileSync(entry, 'utf8')
    expect(e).not.toMatch(/ManagedRuntime/)
    expect(e.slice(e.indexOf('export async function launch'))).toMatch(/scopedWorker\(def, o, scope\)/)
  })

  it("a command's scope owns its worker: the app's services stop before the command returns", async () => {
    const events: string[] = []
    const app = createApp({ id: 'one-runtime', broker: 'memory://', store: 'memory://' })
      .service('db', {
        start: async () => {
          events.push('db start')
          return { name: 'db' }
        },
        stop: async () => {
          events.push('db stop')
        },
      })
      .command('ping', {}, async (_args, ctx) => {
        events.push(`ping ${ctx.services.db.name}`)
      })
    const err: string[] = []
    const code = await runCli(['ping'], { app, out: () => {}, err: (l) => err.push(l) })
    expect({ code, err }).toEqual({ code: 0, err: [] })
    expect(events).toEqual(['db start', 'ping db', 'db stop'])
  })

  it('a worker that fails to start closes what it opened: one line, exit code 1', async () => {
    const events: string[] = []
    const app = createApp({ id: 'one-runtime-fails', broker: 'memory://', store: 'memory://' })
      .service('first', {
        start: async () => {
          events.push('first start')
          return 1
        },
        stop: async () => {
          events.push('first stop')
        },
      })
      .service('second', {
        start: async (): Promise<number> => {
          throw new Error('no database at db.invalid')
        },
      })
      .command('ping', {}, async () => {
        events.push('ping')
      })
    const err: string[] = []
    const code = await runCli(['ping'], { app, out: () => {}, err: (l) => err.push(l) })
    expect(code).toBe(1)
    expect(err).toHaveLength(1)
    expect(err[0]).toMatch(/^stream-app: .*no database at db\.invalid/)
    expect(events).toEqual(['first start', 'first stop'])
  })
})
