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
import { SCAFFOLD_DEV_DEPENDENCIES } from '../src/init.ts'

const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const tmp = mkdtempSync(join(realpathSync(tmpdir()), 'stream-app-init-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

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

  it('also fills an existing empty directory', () => {
    mkdirSync(join(tmp, 'empty'))
    expect(init('empty').code).toBe(0)
  })

  it('refuses a non-empty directory and bad arguments with one line and exit 1', () => {
    mkdirSync(join(tmp, 'full'))
    writeFileSync(join(tmp, 'full/notes.txt'), 'mine')
    const cases: [string[], string][] = [
      [['full'], 'stream-app: full is not empty: init writes a new project into a new or empty directory'],
      [[], 'stream-app: usage: stream-app init <dir>   (writes a new project into a new or empty directory)'],
      [
        ['a', 'b'],
        'stream-app: usage: stream-app init <dir>   (writes a new project into a new or empty directory)',
      ],
    ]
    for (const [args, line] of cases) {
      const r = init(...args)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.err, args.join(' ')).toBe(`${line}\n`)
    }
    expect(readFileSync(join(tmp, 'full/notes.txt'), 'utf8')).toBe('mine')
    expect(readdirSync(join(tmp, 'full'))).toEqual(['notes.txt'])
  })

  it("pins the scaffold's tools to the versions this workspace is tested with", () => {
    const root = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
    for (const [name, version] of Object.entries(SCAFFOLD_DEV_DEPENDENCIES))
      expect(root.devDependencies[name], name).toBe(version)
  })
})
