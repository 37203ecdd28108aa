/**
 * The type-check cost budget: a generated app with 200 topics (struct
 * values), 200 tables and 200 agents (each reading its topic, updating a
 * table through ctx and yielding to a sink topic), in one builder chain and
 * again one declaration per statement, type-checks without error and under a
 * budget of type instantiations. Instantiations are what tsc counts the same
 * on any machine; the check time is printed for the record, never asserted.
 * Before the registry was kept flat, apps failed from about a hundred
 * declarations with "Type instantiation is excessively deep".
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

const N = 200
/** tsc's instantiation count for the app stays under this (about 2.08M at the time of writing). */
const BUDGET = 2_500_000

function generate(oneChain: boolean): string {
  const calls = [
    ...Array.from({ length: N }, (_, i) => `.topic('t${i}', { value: Order })`),
    ...Array.from({ length: N }, (_, i) => `.table('tb${i}', { default: () => 0 })`),
    ...Array.from(
      { length: N },
      (_, i) =>
        `.agent('a${i}', { from: 't${i}', sink: ['t${(i + 1) % N}'] }, async function* (orders, ctx) {
    for await (const o of orders) {
      ctx.tables.tb${i}.update(o.id, (n) => n + o.amount)
      yield o
    }
  })`,
    ),
    `.route('GET', '/total/:id', (c, ctx) => c.json({ total: ctx.tables.tb0.get(c.req.param('id')) }))`,
  ]
  const head = `import { createApp, Schema } from 'stream-app'

const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })
`
  const body = oneChain
    ? `export const app = createApp({ id: 'big' })\n  ${calls.join('\n  ')}\n`
    : `const s0 = createApp({ id: 'big' })\n${calls.map((c, i) => `const s${i + 1} = s${i}${c}`).join('\n')}\nexport const app = s${calls.length}\n`
  // The registry is really typed: a wrong table value type is still an error at the end.
  const probe = `
const t = await app.test()
const total: number = t.tables.tb199.get('x')
// @ts-expect-error tb199 holds numbers
const wrong: string = t.tables.tb199.get('x')
void total
void wrong
`
  return head + body + probe
}

/** Runs tsc on one generated app; both apps are checked at once (two processes), halving the wait. */
function check(name: string, source: string) {
  const dir = join(root, '.cache', 'type-budget', name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'app.ts'), source)
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../tsconfig.base.json',
      compilerOptions: { noEmit: true },
      files: ['app.ts'],
    }),
  )
  return new Promise<{ status: number; errors: string[]; instantiations: number; checkSeconds: number }>(
    (resolve) => {
      execFile(
        process.execPath,
        [tsc, '-p', dir, '--extendedDiagnostics'],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
        (error, stdout) => {
          const stat = (label: string) => Number(new RegExp(`${label}:\\s+([\\d.]+)`).exec(stdout)?.[1])
          resolve({
            status: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
            errors: stdout.split('\n').filter((l) => l.includes('error TS')),
            instantiations: stat('Instantiations'),
            checkSeconds: stat('Check time'),
          })
        },
      )
    },
  )
}

describe('type-check cost budget', () => {
  const cases = [
    ['one builder chain', true],
    ['one declaration per statement', false],
  ] as const
  let runs: Map<boolean, ReturnType<typeof check>> | undefined
  const run = (oneChain: boolean) => {
    runs ??= new Map(
      cases.map(([, chain]) => [chain, check(chain ? 'chain' : 'statements', generate(chain))]),
    )
    return runs.get(oneChain)!
  }
  for (const [name, oneChain] of cases)
    it(`an app of ${N} topics, tables and agents in ${name}`, { timeout: 300_000 }, async () => {
      const r = await run(oneChain)
      console.log(`type budget (${name}): ${r.instantiations} instantiations, check ${r.checkSeconds}s`)
      expect(r.errors).toEqual([])
      expect(r.status).toBe(0)
      expect(r.instantiations).toBeGreaterThan(0)
      expect(r.instantiations).toBeLessThan(BUDGET)
    })
})
