/**
 * App files load wherever they live (the workspace CLI in a child process):
 * .ts always as an ES module, .js by Node's rules. The packed and installed
 * command is tested the same way in test/package/pack-install.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/stream-app.js', import.meta.url))
const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
const tmp = mkdtempSync(join(realpathSync(tmpdir()), 'stream-app-load-'))
// stream-app reachable from the temp directory, as after `npm link stream-app`.
mkdirSync(join(tmp, 'node_modules'))
symlinkSync(PACKAGE, join(tmp, 'node_modules/stream-app'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

// Top-level await and import.meta exist only in an ES module.
const APP = `import { createApp, Schema } from 'stream-app'
const topic = await Promise.resolve('loaded-' + import.meta.url.split('/').at(-2))
export default createApp({ id: 'load', broker: 'memory://' }).topic(topic, { value: Schema.String })
`

function topics(files: Record<string, string>, app: string) {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(tmp, file)), { recursive: true })
    writeFileSync(join(tmp, file), text)
  }
  const r = spawnSync(process.execPath, [BIN, 'topics', app, '--json'], { cwd: tmp, encoding: 'utf8' })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return (JSON.parse(r.stdout) as { name: string; internal: boolean }[])
    .filter((t) => !t.internal)
    .map((t) => t.name)
}

describe('app files', () => {
  it('.ts in a folder with no package.json is an ES module', () => {
    expect(topics({ 'bare/app.ts': APP }, 'bare/app.ts')).toEqual(['loaded-bare'])
  })

  it('.ts and .mts under a package.json without "type": "module" are ES modules', () => {
    const pkg = JSON.stringify({ name: 'cjs', private: true })
    expect(topics({ 'cjs/package.json': pkg, 'cjs/app.ts': APP }, 'cjs/app.ts')).toEqual(['loaded-cjs'])
    expect(topics({ 'cjs/app.mts': APP }, 'cjs/app.mts')).toEqual(['loaded-cjs'])
  })

  it('.cts is refused in one line', () => {
    writeFileSync(join(tmp, 'app.cts'), APP)
    const r = spawnSync(process.execPath, [BIN, 'topics', 'app.cts'], { cwd: tmp, encoding: 'utf8' })
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      'stream-app: cannot load app.cts: a .cts app file is not supported: write the app as .ts or .mts\n',
    )
  })

  it('.js follows Node: an ES module under "type": "module"', () => {
    const pkg = JSON.stringify({ name: 'esm', private: true, type: 'module' })
    expect(topics({ 'esm/package.json': pkg, 'esm/app.js': APP }, 'esm/app.js')).toEqual(['loaded-esm'])
  })
})
