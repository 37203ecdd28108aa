/**
 * `stream-app init <dir>`: writes a small typed project (app.ts, a test that
 * runs it with app.test(), tsconfig.json, package.json) that installs, passes
 * `npm test` and runs with `npm start` as it is. It never overwrites anything:
 * the directory must be new or empty.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'

/** The scaffold's tools; kept equal to the workspace's own (a test checks). */
export const SCAFFOLD_DEV_DEPENDENCIES = {
  '@types/node': '20.19.43',
  typescript: '5.9.3',
  vitest: '4.1.12',
} as const

const USAGE = 'usage: stream-app init <dir>   (writes a new project into a new or empty directory)'

const version = (): string =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
    .version

/** A valid npm package name and app id from the directory's name. */
const nameFor = (dir: string): string =>
  basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '') || 'stream-app-project'

export function scaffold(name: string, streamAppVersion: string): Record<string, string> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: { start: 'stream-app run app.ts', test: 'tsc && vitest run' },
      dependencies: { 'stream-app': `^${streamAppVersion}` },
      devDependencies: Object.fromEntries(
        Object.entries(SCAFFOLD_DEV_DEPENDENCIES).map(([k, v]) => [k, `^${v}`]),
      ),
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
      },
    }),
    '.gitignore': 'node_modules/\n.stream-app/\n',
    'app.ts': `/**
 * Word count: sentences come in, \`split\` sends each word keyed by itself (so
 * every count of a word lives on one partition), \`count\` counts them in a table.
 *
 *   npm start                                        # a worker, web on http://127.0.0.1:6066
 *   npx stream-app send app.ts sentences '"hello stream"'
 *   curl http://127.0.0.1:6066/count/hello
 */
import { createApp, Schema } from 'stream-app'

export const app = createApp({ id: '${name}' })
  .topic('sentences', { value: Schema.String })
  .topic('words', { value: Schema.String })
  .table('counts', { default: () => 0 })
  .agent('split', { from: 'sentences' }, async (sentences, ctx) => {
    for await (const sentence of sentences) {
      for (const word of sentence.toLowerCase().split(/\\W+/)) {
        if (word) await ctx.topics.words.send(word, { key: word })
      }
    }
  })
  .agent('count', { from: 'words' }, async (words, ctx) => {
    for await (const word of words) ctx.tables.counts.update(word, (n) => n + 1)
  })
  .route('GET', '/count/:word', (c, ctx) => {
    const word = c.req.param('word')
    return c.json({ word, count: ctx.tables.counts.get(word) })
  })

export default app
`,
    'app.test.ts': `import { expect, test } from 'vitest'
import app from './app.ts'

test('counts the words of every sentence', async () => {
  const t = await app.test() // memory:// broker and store, no web server, a test clock
  try {
    await t.topics.sentences.send('Hello stream')
    await t.topics.sentences.send('hello again')
    await t.idle() // everything sent so far is processed
    expect(t.tables.counts.get('hello')).toBe(2)
    expect(t.tables.counts.get('stream')).toBe(1)
    expect(t.tables.counts.get('absent')).toBe(0)
  } finally {
    await t.stop()
  }
})
`,
  }
}

export function runInit(
  args: readonly string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): number {
  if (args.includes('--help') || args.includes('-h')) {
    out(USAGE)
    return 0
  }
  const [dir, ...rest] = args
  if (dir === undefined || dir.startsWith('-') || rest.length > 0) {
    err(`stream-app: ${USAGE}`)
    return 1
  }
  const path = resolve(dir)
  if (existsSync(path) && (!statSync(path).isDirectory() || readdirSync(path).length > 0)) {
    err(`stream-app: ${dir} is not empty: init writes a new project into a new or empty directory`)
    return 1
  }
  const files = scaffold(nameFor(path), version())
  mkdirSync(path, { recursive: true })
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text, { flag: 'wx' })
  out(`created ${Object.keys(files).join(', ')} in ${dir}; next:`)
  if (path !== process.cwd()) out(`  cd ${/\s/.test(dir) ? JSON.stringify(dir) : dir}`)
  out('  npm install')
  out('  npm test     # type-checks and runs app.test.ts')
  out('  npm start    # runs the app: http://127.0.0.1:6066/count/hello')
  return 0
}
