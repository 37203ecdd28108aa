/**
 * The projects `stream-app init --template <name>` writes: each an app.ts, a
 * test of it with app.test() (memory://, so `npm test` needs no broker),
 * tsconfig.json, package.json and .gitignore. What differs is the app and, for
 * kafka, the Kafka package beside stream-app.
 */

/** The scaffold's tools; kept equal to the workspace's own (a test checks). */
export const SCAFFOLD_DEV_DEPENDENCIES = {
  '@types/node': '20.19.43',
  typescript: '5.9.3',
  vitest: '4.1.12',
} as const

export const TEMPLATES = ['word-count', 'minimal', 'kafka'] as const
export type Template = (typeof TEMPLATES)[number]

/** The dependencies a project needs, as written into its package.json. */
export interface ScaffoldDependencies {
  readonly 'stream-app': string
  /** Only the kafka template's. */
  readonly '@stream-app/kafka'?: string
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`

const wordCountApp = (config: string, header: string) => `/**
 * Word count: sentences come in, \`split\` sends each word keyed by itself (so
 * every count of a word lives on one partition), \`count\` counts them in a table.
${header}
 *   npm start                                        # a worker, web on http://127.0.0.1:6066
 *   npx stream-app send app.ts sentences '"hello stream"'
 *   curl http://127.0.0.1:6066/count/hello
 */
import { createApp, Schema } from 'stream-app'

export const app = createApp(${config})
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
`

const wordCountTest = `import { expect, test } from 'vitest'
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
`

const minimalApp = (name: string) => `/**
 * One topic in, one agent, one topic out.
 *
 *   npm start                                        # a worker
 *   npx stream-app send app.ts names '"ann"'
 */
import { createApp, Schema } from 'stream-app'

export const app = createApp({ id: '${name}' })
  .topic('names', { value: Schema.String })
  .topic('greetings', { value: Schema.String })
  .agent('greet', { from: 'names' }, async (names, ctx) => {
    for await (const name of names) {
      ctx.log.info('greeting', { name })
      await ctx.topics.greetings.send(\`hello \${name}\`)
    }
  })

export default app
`

const minimalTest = `import { expect, test } from 'vitest'
import app from './app.ts'

test('greets every name', async () => {
  const t = await app.test() // memory:// broker and store, no web server, a test clock
  try {
    await t.topics.names.send('ann')
    await t.idle() // everything sent so far is processed
    expect(t.sent('greetings').map((e) => e.value)).toEqual(['hello ann'])
  } finally {
    await t.stop()
  }
})
`

const KAFKA_HEADER = ` *
 * On Apache Kafka at 127.0.0.1:9092, or wherever STREAM_APP_BROKER says
 * (kafka://host:port[,host:port]); \`npm test\` runs it in memory, no broker needed.
 *`

const appFor = (template: Template, name: string): string => {
  if (template === 'minimal') return minimalApp(name)
  if (template === 'kafka')
    return wordCountApp(
      `{\n  id: '${name}',\n  broker: process.env.STREAM_APP_BROKER ?? 'kafka://127.0.0.1:9092',\n}`,
      KAFKA_HEADER,
    )
  return wordCountApp(`{ id: '${name}' }`, ' *')
}

/** A project's files by relative path. */
export function scaffold(
  name: string,
  dependencies: ScaffoldDependencies,
  template: Template = 'word-count',
): Record<string, string> {
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: { start: 'stream-app run app.ts', test: 'tsc && vitest run' },
      dependencies,
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
    'app.ts': appFor(template, name),
    'app.test.ts': template === 'minimal' ? minimalTest : wordCountTest,
  }
}
