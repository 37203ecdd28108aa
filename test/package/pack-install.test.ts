/**
 * The release as a user gets it: `npm run release`, then `npm install` of the
 * single stream-app tarball (core, sqlite and web inside it; no overrides, no
 * other stream-app tarball) with the Kafka package's tarball beside it, into a
 * project in a temp directory outside the workspace. The installed
 * `npx stream-app` runs the README's app and app files of every kind (.ts and
 * .js, in ES module and CommonJS package scopes and outside any package), the
 * installed .d.ts are type-checked by `tsc` as a user's project would, every
 * tarball passes `npm publish --dry-run`, and `npx stream-app init` writes a
 * project that installs the same tarball and passes `npm test` and `npm start`
 * unedited. Takes a few minutes, most of it npm compiling better-sqlite3
 * (twice: two projects, the second install overlapping the other cases).
 *
 * The project's install leaves the Kafka client out (`--omit=optional`), as a
 * machine that cannot build it would: @stream-app/kafka is there, its native
 * client is not.
 */
import { execFileSync, spawnSync } from 'node:child_process'
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
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { capture, env, killStarted, MINUTE, npx, poll, run, runAsync, startWorker } from './processes.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const RELEASE = join(ROOT, 'release')
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'packages/stream-app/package.json'), 'utf8')) as {
    version: string
  }
).version
/** What `npm run release` writes: the tarball users install, and the optional packages beside it. */
const MAIN = join(RELEASE, `stream-app-${VERSION}.tgz`)
const SIDE = {
  '@stream-app/kafka': join(RELEASE, `stream-app-kafka-${VERSION}.tgz`),
  '@stream-app/schema-registry': join(RELEASE, `stream-app-schema-registry-${VERSION}.tgz`),
} as const

let tmp = ''
let project = ''
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

/** The README's own app: the TypeScript block of "Use it in your project". */
const readmeApp = () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Use it in your project'))
  const block = /```ts\n(\/\/ app\.ts\n[\s\S]*?)```/.exec(section)
  if (!block) throw new Error('README: no ```ts block starting with // app.ts under "Use it in your project"')
  return block[1]!
}

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

  await runAsync('npm', ['run', 'release'], ROOT)

  project = join(tmp, 'project')
  await write(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'pack-install-project',
      private: true,
      type: 'module',
      dependencies: {
        'stream-app': `file:${MAIN}`,
        '@stream-app/kafka': `file:${SIDE['@stream-app/kafka']}`,
      },
      devDependencies: { typescript: devVersion('typescript'), '@types/node': devVersion('@types/node') },
    }),
  )
  await runAsync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund'], project)
}, 12 * MINUTE)

afterAll(() => {
  killStarted()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

const devVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>
    }
  ).devDependencies[name]!

describe('packed and installed with npm', () => {
  const manifestOf = (file: string) =>
    JSON.parse(execFileSync('tar', ['xzf', file, '-O', 'package/package.json'], { encoding: 'utf8' })) as {
      name: string
      license?: string
      repository?: { url?: string }
      exports: Record<string, { types: string; import: string; default: string } | null>
      bin?: Record<string, string>
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
    }

  it('ships built JavaScript and declarations only, core, sqlite and web inside stream-app', () => {
    for (const file of [MAIN, ...Object.values(SIDE)]) {
      const entries = execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).trim().split('\n')
      // The command's launcher is CommonJS on purpose (it sizes libuv's pool before any ES module loads).
      const code = entries.filter(
        (e) => !/^package\/(package\.json|README\.md|LICENSE|bin\/stream-app\.cjs)$/.test(e),
      )
      expect(code.length, file).toBeGreaterThan(0)
      for (const e of code) expect(e, file).toMatch(/^package\/(vendor\/[a-z-]+\/)?dist\/.+\.(js|d\.ts)$/)
      expect(
        code.filter((e) => /\.test(-d)?\./.test(e)),
        file,
      ).toEqual([])
      expect(entries, file).toContain('package/LICENSE')
      const manifest = manifestOf(file)
      for (const [sub, target] of Object.entries(manifest.exports)) {
        // A sealed subpath (core's ./internal/*) stays sealed in the published package.
        if (target === null) {
          expect(sub, file).toMatch(/\/internal\/\*$/)
          continue
        }
        // default: require() of the ES module too (Node 20.19 and later).
        expect(target, `${file} ${sub}`).toEqual({
          types: expect.stringMatching(/^\.\/(vendor\/[a-z-]+\/)?dist\/.+\.d\.ts$/),
          import: expect.stringMatching(/^\.\/(vendor\/[a-z-]+\/)?dist\/.+\.js$/),
          default: target.import,
        })
        expect(entries, `${file} ${sub}`).toContain(`package/${target.import.slice(2)}`)
        expect(entries, `${file} ${sub}`).toContain(`package/${target.types.slice(2)}`)
      }
      expect(JSON.stringify(manifest), file).not.toContain('workspace:')
      // Nothing that only the registry (or another tarball) could provide.
      expect(Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@stream-app/'))).toEqual([])
      const text = code
        .filter((e) => e.endsWith('.js'))
        .map((e) => execFileSync('tar', ['xzf', file, '-O', e], { encoding: 'utf8' }))
        .join('\n')
      expect(text, file).not.toMatch(/from '@stream-app\/(core|sqlite|web)/)
    }
    expect(manifestOf(MAIN).bin).toEqual({ 'stream-app': './bin/stream-app.cjs' })
    expect(execFileSync('tar', ['tzf', MAIN], { encoding: 'utf8' })).toContain('package/bin/stream-app.cjs')
    for (const side of Object.values(SIDE))
      expect(manifestOf(side).peerDependencies).toEqual({ 'stream-app': VERSION })
  })

  it('npm publish --dry-run is clean for every tarball (release/ and release/registry/)', async () => {
    const registry = join(RELEASE, 'registry')
    const files = [MAIN, ...Object.values(SIDE), ...readdirSync(registry).map((f) => join(registry, f))]
    expect(files.map((f) => basename(f)).sort()).toEqual(
      [
        ...['', 'core-', 'kafka-', 'schema-registry-', 'sqlite-', 'web-'].map(
          (p) => `stream-app-${p}${VERSION}.tgz`,
        ),
        ...['', 'kafka-', 'schema-registry-'].map((p) => `stream-app-${p}${VERSION}.tgz`),
      ].sort(),
    )
    await Promise.all(
      files.map(async (file) => {
        // ./ so npm takes the argument for a file, not a git shorthand.
        const r = await capture(
          'npm',
          ['publish', '--dry-run', '--json', '--ignore-scripts', `./${relative(tmp, file)}`],
          tmp,
        )
        expect(r.code, `${file}: ${r.stderr}`).toBe(0)
        const { name } = manifestOf(file)
        const packed = (
          JSON.parse(r.stdout) as Record<string, { version: string; files: { path: string }[] }>
        )[name]
        expect(packed?.version, file).toBe(VERSION)
        expect(packed?.files.map((f) => f.path)).toEqual(expect.arrayContaining(['package.json', 'LICENSE']))
        // npm's own notices, and the one warning a dry run without a login always gives.
        const warnings = r.stderr
          .split('\n')
          .filter((l) => l && !l.startsWith('npm notice') && !/requires you to be logged in/.test(l))
        expect(warnings, file).toEqual([])
        const manifest = manifestOf(file)
        expect(manifest.license, file).toBe('MIT')
        expect(manifest.repository?.url, file).toMatch(/^git\+https:\/\//)
      }),
    )
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
    // The tarball the running stream-app was installed from, by its absolute path: installs unedited.
    expect(pkg.dependencies).toEqual({ 'stream-app': `file:${MAIN}` })
    expect(pkg.scripts).toMatchObject({ start: 'stream-app run app.ts', test: expect.any(String) })
    scaffoldInstall = runAsync('npm', ['install', '--no-audit', '--no-fund'], dir)
    scaffoldInstall.catch(() => {}) // awaited (and reported) by the scaffold's test below
  })

  it(
    "runs the README's app as the README says: run, send, and its route answers",
    async () => {
      await write(join(project, 'greeter.ts'), readmeApp())
      const worker = await startWorker(project, 'greeter.ts')
      try {
        const sent = npx(project, 'stream-app', 'send', 'greeter.ts', 'names', '"ann"', '--key', 'ann')
        expect(sent.status, sent.stderr).toBe(0)
        const body = await poll(
          async () => (await fetch(`${worker.url}/seen/ann`)).json() as Promise<{ seen: number }>,
          (b) => b.seen === 1,
        )
        expect(body).toEqual({ seen: 1 })
      } finally {
        await worker.stop()
      }
    },
    2 * MINUTE,
  )

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
      // Both configurations at once (a tsc each), on a machine busy with the scaffold's install.
      const checks = [
        ['NodeNext', 'NodeNext'],
        ['ESNext', 'Bundler'],
      ].map(async ([module, moduleResolution]) => {
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
        const r = await capture(process.execPath, [tsc, '-p', `tsconfig.${moduleResolution}.json`], project)
        return { moduleResolution, output: r.stdout + r.stderr, code: r.code }
      })
      for (const r of await Promise.all(checks)) {
        expect(r.output, r.moduleResolution).toBe('')
        expect(r.code, r.moduleResolution).toBe(0)
      }
    },
    3 * MINUTE,
  )

  it('installs without the Kafka client; kafka:// then fails with one clear line', () => {
    // Only the Kafka package beside stream-app: core, sqlite and web came inside it.
    expect(readdirSync(join(project, 'node_modules/@stream-app')).sort()).toEqual(['kafka'])
    expect(existsSync(join(project, 'node_modules/@confluentinc/kafka-javascript'))).toBe(false)
    // The Kafka package takes core from the installed stream-app: one core, one set of error classes.
    const shared = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const [a, c] = await Promise.all([import('stream-app'), import('stream-app/core')])
console.log(a.ConfigError === c.ConfigError && typeof c.BrokerError === 'function')`,
      ],
      { cwd: project, encoding: 'utf8' },
    )
    expect(shared.stderr).toBe('')
    expect(shared.stdout.trim()).toBe('true')
    const kafkaCode = readdirSync(join(project, 'node_modules/@stream-app/kafka/dist'), { recursive: true })
      .filter((f): f is string => typeof f === 'string' && f.endsWith('.js'))
      .map((f) => readFileSync(join(project, 'node_modules/@stream-app/kafka/dist', f), 'utf8'))
      .join('\n')
    expect(kafkaCode).toContain("from 'stream-app/core'")
    expect(kafkaCode).not.toContain("from '@stream-app/core'")
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
      // npm start as it is (the port made free-for-all so parallel runs do not collide).
      const worker = await startWorker(dir, 'app.ts', ['npm', 'start', '--'])
      try {
        const health = await poll(
          async () => (await fetch(`${worker.url}/count/hello`)).json() as Promise<{ count: number }>,
          (b) => b.count === 0,
        )
        expect(health).toEqual({ word: 'hello', count: 0 })
      } finally {
        await worker.stop()
      }
    },
    10 * MINUTE,
  )
})
