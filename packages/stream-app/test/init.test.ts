/** `stream-app init`: what it writes and what it refuses (the workspace CLI in a child process). */
import { spawnSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { installedSpec, runInit, SCAFFOLD_DEV_DEPENDENCIES } from '../src/init.ts'

const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const tmp = mkdtempSync(join(realpathSync(tmpdir()), 'stream-app-init-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const USAGE =
  'stream-app: usage: stream-app init <dir> [--template word-count|minimal|kafka]   (writes a new project into a new or empty directory)'

const init = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, 'init', ...args], { cwd: tmp, encoding: 'utf8' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('stream-app init', () => {
  it('writes a typed app, its test, tsconfig.json and package.json', () => {
    const r = init('My App')
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^ {2}cd "My App"$/m)
    const dir = join(tmp, 'My App')
    expect(readdirSync(dir).sort()).toEqual([
      '.gitignore',
      'app.test.ts',
      'app.ts',
      'package.json',
      'tsconfig.json',
    ])
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    expect(pkg).toMatchObject({
      name: 'my-app',
      type: 'module',
      scripts: { start: 'stream-app run app.ts', test: 'tsc && vitest run' },
      dependencies: { 'stream-app': `^${own.version}` },
    })
    expect(readFileSync(join(dir, 'app.ts'), 'utf8')).toContain("createApp({ id: 'my-app' })")
  })

  it('--template minimal and kafka: their own app; kafka adds the Kafka package', () => {
    const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    const quiet = () => {}
    expect(runInit([join(tmp, 'small'), '--template', 'minimal'], quiet, quiet)).toBe(0)
    expect(readFileSync(join(tmp, 'small/app.ts'), 'utf8')).toContain(".agent('greet', { from: 'names' }")
    expect(readFileSync(join(tmp, 'small/app.test.ts'), 'utf8')).toContain("t.sent('greetings')")
    expect(runInit([join(tmp, 'onkafka'), '--template=kafka'], quiet, quiet)).toBe(0)
    expect(readFileSync(join(tmp, 'onkafka/app.ts'), 'utf8')).toContain(
      "broker: process.env.STREAM_APP_BROKER ?? 'kafka://127.0.0.1:9092'",
    )
    // Run from the workspace (not installed by npm): the registry's versions.
    expect(JSON.parse(readFileSync(join(tmp, 'onkafka/package.json'), 'utf8')).dependencies).toEqual({
      'stream-app': `^${own.version}`,
      '@stream-app/kafka': `^${own.version}`,
    })
  })

  it('writes the dependency the way npm installed the running stream-app', () => {
    const project = join(tmp, 'installed')
    const pkg = join(project, 'node_modules/stream-app')
    mkdirSync(pkg, { recursive: true })
    const lock = (resolved: string | undefined) =>
      writeFileSync(
        join(project, 'node_modules/.package-lock.json'),
        JSON.stringify({ packages: { 'node_modules/stream-app': { version: '1.2.3', resolved } } }),
      )
    lock('file:../release/stream-app-1.2.3.tgz')
    expect(installedSpec(pkg, '1.2.3')).toBe(`file:${join(tmp, 'release/stream-app-1.2.3.tgz')}`)
    lock('https://registry.example/stream-app/-/stream-app-1.2.3.tgz')
    expect(installedSpec(pkg, '1.2.3')).toBe('^1.2.3')
    lock('https://downloads.example/builds/stream-app-1.2.3.tgz')
    expect(installedSpec(pkg, '1.2.3')).toBe('https://downloads.example/builds/stream-app-1.2.3.tgz')
    // npm leaves `resolved` out of lockfiles for registry packages when configured to.
    lock(undefined)
    expect(installedSpec(pkg, '1.2.3')).toBe('^1.2.3')
    expect(installedSpec(join(tmp, 'nowhere/stream-app'), '1.2.3')).toBe('^1.2.3')
  })

  it('also fills an existing empty directory', () => {
    mkdirSync(join(tmp, 'empty'))
    expect(init('empty').code).toBe(0)
  })

  it('refuses a non-empty directory and bad arguments with one line and exit 1', () => {
    mkdirSync(join(tmp, 'full'))
    writeFileSync(join(tmp, 'full/notes.txt'), 'mine')
    const cases: [string[], string][] = [
      [['full'], 'stream-app: full is not empty: init writes a new project into a new or empty directory'],
      [[], USAGE],
      [['a', 'b'], USAGE],
    ]
    for (const [args, line] of cases) {
      const r = init(...args)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.err, args.join(' ')).toBe(`${line}\n`)
    }
    // The same parser in this process (a child process each costs seconds on a loaded machine).
    const a = join(tmp, 'a')
    const inProcess: [string[], string][] = [
      [['--force', a], USAGE],
      [
        [a, '--template', 'big'],
        "stream-app: unknown template 'big' (templates: word-count, minimal, kafka)",
      ],
      [[a, '--template'], 'stream-app: --template needs a value: word-count, minimal, kafka'],
    ]
    for (const [args, line] of inProcess) {
      const lines: string[] = []
      expect(
        runInit(
          args,
          (l) => lines.push(`out: ${l}`),
          (l) => lines.push(l),
        ),
        args.join(' '),
      ).toBe(1)
      expect(lines, args.join(' ')).toEqual([line])
    }
    expect(readdirSync(tmp)).not.toContain('a')
    expect(readdirSync(join(tmp, 'full'))).toEqual(['notes.txt'])
  })

  it("pins the scaffold's tools to the versions this workspace is tested with", () => {
    const root = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
    for (const [name, version] of Object.entries(SCAFFOLD_DEV_DEPENDENCIES))
      expect(root.devDependencies[name], name).toBe(version)
  })
})
