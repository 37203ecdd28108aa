/**
 * The packages as a user gets them: `pnpm build`, `pnpm pack` of every package
 * into a temp directory outside the workspace, `npm install` of the tarballs
 * into a fresh project there, and the installed `npx stream-app` run against
 * app files (.ts and .js, in ES module and CommonJS package scopes and outside
 * any package), the installed .d.ts type-checked by `tsc` as a user's project
 * would, and `npx stream-app init` whose project installs and passes its own
 * tests. Takes a few minutes, most of it npm compiling better-sqlite3 (twice:
 * two projects).
 *
 * The installs leave the Kafka client out, as a machine that cannot build it
 * would: the project with `--omit=optional` (no @stream-app/kafka at all), the
 * scaffolded one with install scripts off and only better-sqlite3 rebuilt (its
 * vitest needs the optional native builds of vite's toolchain, so it cannot
 * omit optional packages).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = {
  'stream-app': 'packages/stream-app',
  '@stream-app/core': 'packages/core',
  '@stream-app/sqlite': 'packages/sqlite',
  '@stream-app/web': 'packages/web',
  '@stream-app/kafka': 'packages/kafka',
} as const
type PackageName = keyof typeof PACKAGES
const MINUTE = 60_000

let tmp = ''
let project = ''
const tarballs = {} as Record<PackageName, string>
const env: NodeJS.ProcessEnv = { ...process.env }
// The apps run on their default broker, sqlite:// in the directory they run in.
delete env.STREAM_APP_BROKER
delete env.STREAM_APP_JSON_LOGS
env.npm_config_update_notifier = 'false'
env.npm_config_fund = 'false'
env.npm_config_audit = 'false'

/** Runs a command to completion; throws with its output when it fails. */
function run(cmd: string, args: readonly string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 5 * MINUTE })
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`,
    )
  return r.stdout
}

/** The same, without blocking the test process (so an install can go on while other tests run). */
function runAsync(cmd: string, args: readonly string[], cwd: string): Promise<string> {
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

const npx = (cwd: string, ...args: string[]) =>
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
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    // already gone
  }
}

/** `npx stream-app run <file> --web-port 0` in cwd: resolves with the worker's web URL. */
async function startWorker(cwd: string, file: string) {
  const child = track(
    spawn('npx', ['--no', 'stream-app', 'run', file, '--web-port', '0'], {
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

async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined && ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out; last: ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** A word-count app; `id` names the app and its topic, so the cases share nothing on the broker. */
const appSource = (id: string) => `import { createApp, Schema } from 'stream-app'

const sentences = '${id}-sentences'
export const app = createApp({ id: '${id}' })
  .topic(sentences, { value: Schema.String })
  .table('counts', { default: () => 0 })
  .agent('count', { from: sentences }, async (stream, ctx) => {
    for await (const sentence of stream)
      for (const word of sentence.split(' ')) ctx.tables.counts.update(word, (n) => n + 1)
  })
  .route('GET', '/count/:word', (c, ctx) => c.json({ count: ctx.tables.counts.get(c.req.param('word')) }))

export default app
`

/** Overrides that take the scoped packages from the tarballs instead of the registry. */
const overrides = () =>
  Object.fromEntries(
    (Object.keys(PACKAGES) as PackageName[])
      .filter((n) => n !== 'stream-app')
      .map((n) => [n, `file:${tarballs[n]}`]),
  )

const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true })
  return writeFile(path, text)
}

beforeAll(async () => {
  tmp = mkdtempSync(join(realpathSync(tmpdir()), 'stream-app-pack-'))
  // The "no package.json" case below needs a directory no package.json above it.
  for (let d = tmp; d !== dirname(d); d = dirname(d)) {
    if (existsSync(join(d, 'package.json')))
      throw new Error(`${d} holds a package.json; set TMPDIR elsewhere`)
  }
  // Native addons compile against Node's headers, found or fetched as scripts/setup.sh does.
  env.npm_config_nodedir ||= run('bash', [join(ROOT, 'scripts/node-headers.sh')], ROOT).trim()

  await runAsync('pnpm', ['build'], ROOT)
  const packed = join(tmp, 'tarballs')
  for (const [name, dir] of Object.entries(PACKAGES) as [PackageName, string][]) {
    const out = run('pnpm', ['pack', '--pack-destination', packed], join(ROOT, dir))
    const file = out
      .trim()
      .split('\n')
      .findLast((l) => l.endsWith('.tgz'))
    if (!file) throw new Error(`pnpm pack printed no tarball for ${name}:\n${out}`)
    tarballs[name] = file.trim()
  }

  project = join(tmp, 'project')
  await write(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'pack-install-project',
      private: true,
      type: 'module',
      dependencies: { 'stream-app': `file:${tarballs['stream-app']}` },
      devDependencies: { typescript: devVersion('typescript'), '@types/node': devVersion('@types/node') },
      overrides: overrides(),
    }),
  )
  await runAsync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund'], project)
}, 12 * MINUTE)

afterAll(() => {
  for (const child of started) signalGroup(child, 'SIGKILL')
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

const devVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>
    }
  ).devDependencies[name]!

describe('packed and installed with npm', () => {
  it('ships built JavaScript and declarations only, pointing exports and bin at them', () => {
    for (const [name, file] of Object.entries(tarballs)) {
      const entries = execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).trim().split('\n')
      const shipped = entries.filter((e) => e !== 'package/package.json')
      expect(shipped.length, name).toBeGreaterThan(0)
      for (const e of shipped) expect(e, name).toMatch(/^package\/dist\/.+\.(js|d\.ts)$/)
      expect(
        shipped.filter((e) => /\.test(-d)?\./.test(e)),
        name,
      ).toEqual([])
      const manifest = JSON.parse(
        execFileSync('tar', ['xzf', file, '-O', 'package/package.json'], { encoding: 'utf8' }),
      ) as {
        exports: Record<string, { types: string; import: string; default: string } | null>
        bin?: Record<string, string>
      }
      for (const [sub, target] of Object.entries(manifest.exports)) {
        // A sealed subpath (core's ./internal/*) stays sealed in the published package.
        if (target === null) {
          expect(sub, name).toBe('./internal/*')
          continue
        }
        // default: require() of the ES module too (Node 20.19 and later).
        expect(target, `${name} ${sub}`).toEqual({
          types: expect.stringMatching(/^\.\/dist\/.+\.d\.ts$/),
          import: expect.stringMatching(/^\.\/dist\/.+\.js$/),
          default: target.import,
        })
        expect(entries, `${name} ${sub}`).toContain(`package/${target.import.slice(2)}`)
        expect(entries, `${name} ${sub}`).toContain(`package/${target.types.slice(2)}`)
      }
      expect(JSON.stringify(manifest), name).not.toContain('workspace:')
      if (name === 'stream-app') expect(manifest.bin).toEqual({ 'stream-app': './dist/bin.js' })
    }
  })

  // Scaffolds first, so its install (a second better-sqlite3 compile) overlaps the cases below.
  let scaffoldInstall: Promise<string> | undefined
  it('npx stream-app init writes a project, and refuses a non-empty directory', async () => {
    const init = npx(project, 'stream-app', 'init', '../my-app')
    expect(init.status, init.stderr).toBe(0)
    const dir = join(tmp, 'my-app')
    expect(readdirSync(dir).sort()).toEqual([
      '.gitignore',
      'app.test.ts',
      'app.ts',
      'package.json',
      'tsconfig.json',
    ])
    const again = npx(project, 'stream-app', 'init', '../my-app')
    expect(again.status).toBe(1)
    expect(again.stderr.trim()).toBe(
      'stream-app: ../my-app is not empty: init writes a new project into a new or empty directory',
    )

    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
      scripts: Record<string, string>
    }
    expect(pkg.dependencies['stream-app']).toMatch(/^\^\d+\.\d+\.\d+$/)
    expect(pkg.scripts).toMatchObject({ start: 'stream-app run app.ts', test: expect.any(String) })
    // The packed stream-app rather than the registry's.
    pkg.dependencies['stream-app'] = `file:${tarballs['stream-app']}`
    await write(join(dir, 'package.json'), JSON.stringify({ ...pkg, overrides: overrides() }, null, 2))
    scaffoldInstall = runAsync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund'], dir).then(
      () => runAsync('npm', ['rebuild', 'better-sqlite3'], dir),
    )
    scaffoldInstall.catch(() => {}) // awaited (and reported) by the scaffold's test below
  })

  const cases: [what: string, file: string, setup: () => Promise<unknown>][] = [
    [
      'app.ts in the project ("type": "module")',
      'app.ts',
      () => write(join(project, 'app.ts'), appSource('pi-ts')),
    ],
    ['a plain app.js', 'app.js', () => write(join(project, 'app.js'), appSource('pi-js'))],
    [
      'a CommonJS app.cjs (require and module.exports)',
      'app.cjs',
      () =>
        write(
          join(project, 'app.cjs'),
          appSource('pi-commonjs')
            .replace(
              "import { createApp, Schema } from 'stream-app'",
              "const { createApp, Schema } = require('stream-app')",
            )
            .replace('export const app =', 'const app =')
            .replace('export default app', 'module.exports = app'),
        ),
    ],
    [
      'app.ts under a package.json without "type": "module"',
      'cjs/app.ts',
      async () => {
        await write(join(project, 'cjs/package.json'), JSON.stringify({ name: 'cjs', private: true }))
        // Top-level await and import.meta: only an ES module has them.
        await write(
          join(project, 'cjs/app.ts'),
          `${appSource('pi-cjs')}\nexport const loadedFrom = await Promise.resolve(import.meta.url)\n`,
        )
      },
    ],
    [
      'app.ts in a folder with no package.json above it',
      '../bare/app.ts',
      async () => {
        await write(join(tmp, 'bare/app.ts'), appSource('pi-bare'))
        // stream-app reachable as after `npm link stream-app`.
        mkdirSync(join(tmp, 'bare/node_modules'))
        symlinkSync(join(project, 'node_modules/stream-app'), join(tmp, 'bare/node_modules/stream-app'))
      },
    ],
  ]
  for (const [what, file, setup] of cases) {
    it(
      `runs ${what}: npx stream-app run, send, and the route sees it`,
      async () => {
        await setup()
        const id = /pi-[a-z]+/.exec(readFileSync(join(project, file), 'utf8'))![0]
        const worker = await startWorker(project, file)
        try {
          const sent = npx(project, 'stream-app', 'send', file, `${id}-sentences`, '"hello packed world"')
          expect(sent.status, sent.stderr).toBe(0)
          expect(JSON.parse(sent.stdout)).toMatchObject({ topic: `${id}-sentences`, offset: 0 })
          const body = await poll(
            async () => (await fetch(`${worker.url}/count/packed`)).json() as Promise<{ count: number }>,
            (b) => b.count === 1,
          )
          expect(body).toEqual({ count: 1 })
          // The same route through the typed client of the installed package.
          const viaClient = spawnSync(
            process.execPath,
            [
              '--input-type=module',
              '-e',
              `import { client } from 'stream-app/client'
const r = await client(process.argv[1]).count[':word'].$get({ param: { word: 'packed' } })
console.log(JSON.stringify(await r.json()))`,
              worker.url,
            ],
            { cwd: project, encoding: 'utf8' },
          )
          expect(viaClient.stderr).toBe('')
          expect(JSON.parse(viaClient.stdout)).toEqual({ count: 1 })
        } finally {
          await worker.stop()
        }
        expect(worker.log()).toMatch(/worker '[^']+' stopped/)
      },
      2 * MINUTE,
    )
  }

  it(
    'type-checks a user app against the installed declarations (NodeNext and Bundler)',
    async () => {
      // A compile error proves the types are real, not any.
      await write(
        join(project, 'typed.ts'),
        `import { createApp, Schema } from 'stream-app'
import { client } from 'stream-app/client'

export const app = createApp({ id: 'typed' })
  .topic('orders', { value: Schema.Struct({ id: Schema.String, amount: Schema.Number }) })
  .table('revenue', { default: () => 0 })
  .agent('track', { from: 'orders' }, async (orders, ctx) => {
    for await (const order of orders) ctx.tables.revenue.update(order.id, (v) => v + order.amount)
  })
  // @ts-expect-error 'refunds' is not a declared topic
  .agent('refund', { from: 'refunds' }, async () => {})
  .route('GET', '/revenue/:id', (c, ctx) => c.json({ revenue: ctx.tables.revenue.get(c.req.param('id')) }))

const api = client<typeof app>('http://127.0.0.1:1')
export const call = async (): Promise<number> => (await (await api.revenue[':id'].$get({ param: { id: 'a' } })).json()).revenue
// @ts-expect-error the param is 'id'
export const wrong = () => api.revenue[':id'].$get({ param: { customer: 'a' } })

const t = await app.test()
const revenue: number = t.tables.revenue.get('a')
void revenue
`,
      )
      for (const [module, moduleResolution] of [
        ['NodeNext', 'NodeNext'],
        ['ESNext', 'Bundler'],
      ]) {
        await write(
          join(project, `tsconfig.${moduleResolution}.json`),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              // DOM: effect's own declarations name Web Crypto and Storage types.
              lib: ['ES2023', 'DOM'],
              module,
              moduleResolution,
              types: ['node'],
              strict: true,
              noEmit: true,
              // Checks the installed .d.ts too, so an import in them that does not resolve fails here.
              skipLibCheck: false,
            },
            files: ['app.ts', 'typed.ts'],
          }),
        )
        const tsc = join(project, 'node_modules/typescript/bin/tsc')
        const r = spawnSync(process.execPath, [tsc, '-p', `tsconfig.${moduleResolution}.json`], {
          cwd: project,
          encoding: 'utf8',
        })
        expect(r.stdout + r.stderr, moduleResolution).toBe('')
        expect(r.status, moduleResolution).toBe(0)
      }
    },
    MINUTE,
  )

  it('installs without the Kafka client; kafka:// then fails with one clear line', () => {
    expect(readdirSync(join(project, 'node_modules/@stream-app')).sort()).toEqual(['core', 'sqlite', 'web'])
    const r = npx(
      project,
      'stream-app',
      'send',
      'app.ts',
      'pi-ts-sentences',
      '"x"',
      '--broker',
      'kafka://127.0.0.1:9',
    )
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/^stream-app: kafka:\/\/ needs the Kafka client, which is not installed/)
  })

  it(
    'the scaffolded project installs and passes its own tests (npm test)',
    async () => {
      expect(scaffoldInstall, 'init did not run').toBeDefined()
      await scaffoldInstall
      const dir = join(tmp, 'my-app')
      const r = spawnSync('npm', ['test'], { cwd: dir, env, encoding: 'utf8', timeout: 2 * MINUTE })
      expect(r.status, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(/1 passed/)
    },
    10 * MINUTE,
  )
})
