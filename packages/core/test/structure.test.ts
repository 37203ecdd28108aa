/**
 * The structural rules of the runtime that a machine can check (issue 21):
 * parts get their collaborators at construction (no callback field assigned
 * afterwards), core's internals stay inside core, and every failure caught
 * from a promise or a throw becomes a typed Failure (no `catch: (e) => e`)
 * whose retry is decided by its tag (no `isRetriable(unknown)`, in any package),
 * table kinds are registered in one place and decided nowhere else, a
 * table's owned partitions are written by the Assignment alone, and the main
 * entry exports the documented API only (the runtime has its own entry).
 * Each rule reads the sources as git lists them and names the offending lines.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import * as main from '../src/index.ts'
import { createApp, hopping, session, tumbling } from '../src/index.ts'
import * as runtimePort from '../src/runtime/index.ts'
import { KINDS, kindNameOf } from '../src/runtime/internal/table-kinds.ts'

const root = join(import.meta.dirname, '../../..')
const tracked = (...globs: string[]): string[] =>
  execFileSync('git', ['ls-files', '--', ...globs], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
const source = (f: string): string => readFileSync(join(root, f), 'utf8')
const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length

/** `<name>.<field> = (…) =>` (or `= async x =>`), where the object is not `this`: a callback set from outside. */
const CALLBACK_ASSIGNED =
  /(?:^|[;{}\n])[ \t]*(?!this\.)([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)\s*=\s*(?:async\s+)?(?:\([^()]*\)|[A-Za-z_$][\w$]*)\s*(?::\s*[^=]+)?=>/g

/**
 * The functions written inside `makeWorker` (arrows and function expressions; its Effect.gen
 * generator aside), each as `line: text`. Parts get the worker's objects at construction, so
 * what is left are callbacks a part cannot get as an object yet and the scope's finalizers.
 */
function functionsInside(file: string, text: string, name: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  let found: ts.Node | undefined
  const find = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === name) found = n.initializer
    else ts.forEachChild(n, find)
  }
  find(sf)
  if (found === undefined || !ts.isArrowFunction(found))
    throw new Error(`no arrow function '${name}' in ${file}`)
  const out: string[] = []
  const walk = (n: ts.Node): void => {
    if (ts.isArrowFunction(n) || (ts.isFunctionExpression(n) && n.asteriskToken === undefined))
      out.push(`${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: ${n.getText().split('\n')[0]}`)
    ts.forEachChild(n, walk)
  }
  ts.forEachChild(found.body, walk)
  return out
}

/** Down from 76 when the parts took their callbacks (issue 21); it may shrink, never grow. */
const MAKE_WORKER_FUNCTIONS = 19

/** The README's sections for users (quick start to the Faust table): the API of API.md, as the repository documents it. */
const userDocs = (): string => {
  const readme = source('README.md')
  return readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Layout'))
}

/**
 * Values of the main entry the user sections do not name, and why they are public all the same.
 * Everything else a package of the workspace needs goes through `@stream-app/core/runtime`.
 */
const ALLOWED_UNDOCUMENTED: Readonly<Record<string, string>> = Object.fromEntries(
  [
    'AskTimeoutError',
    'BrokerError',
    'ConfigError',
    'DecodeError',
    'IdleTimeoutError',
    'StoppedError',
    'StoreError',
    'StreamAppError',
    'UnexpectedError',
    'WorkerFailedError',
  ].map((name) => [name, 'an error users meet and match by class or _tag; stream-app re-exports it']),
)

/** The names among `exported` that neither the user docs name (as a word) nor the allow-list excuses. */
const undocumented = (exported: readonly string[]): string[] => {
  const docs = userDocs()
  return exported.filter((n) => !(n in ALLOWED_UNDOCUMENTED) && !new RegExp(`\\b${n}\\b`).test(docs))
}

describe('structure', () => {
  it(`makeWorker hands its parts objects, not callbacks: at most ${MAKE_WORKER_FUNCTIONS} functions in it`, () => {
    const f = 'packages/core/src/runtime/worker.ts'
    const found = functionsInside(f, source(f), 'makeWorker')
    expect(found.length, found.join('\n')).toBeLessThanOrEqual(MAKE_WORKER_FUNCTIONS)
    // The count is real: the finalizer that commits on a stop is among what it finds.
    expect(found.some((l) => l.includes('committer.commit()'))).toBe(true)
  })

  it('the count above sees every arrow and function expression, not the generator', () => {
    const text = `export const makeWorker = (o: number) =>
  Effect.gen(function* () {
    const a = part({ f: (x) => x + 1, g: function (y) { return y } })
    yield* Effect.addFinalizer(() => Effect.sync(() => a.close()))
  })
const elsewhere = () => 1
`
    expect(functionsInside('w.ts', text, 'makeWorker').map((l) => l.split(': ')[0])).toEqual([
      '3',
      '3',
      '4',
      '4',
    ])
  })

  it('no part of the runtime has a callback assigned to it after construction', () => {
    const found: string[] = []
    const files = tracked('packages/core/src/runtime/')
    expect(files.length).toBeGreaterThan(20)
    for (const f of files) {
      const s = source(f)
      for (const m of s.matchAll(CALLBACK_ASSIGNED)) found.push(`${f}:${lineOf(s, m.index + 1)} ${m[1]}`)
    }
    expect(found).toEqual([])
  })

  it('the check above finds a callback assigned from outside (and lets a part set its own)', () => {
    const hits = (s: string) => [...s.matchAll(CALLBACK_ASSIGNED)].map((m) => m[1])
    expect(hits('const a = 1\n    members.onChange = () => void replicator.update()\n')).toEqual([
      'members.onChange',
    ])
    expect(hits('  t.emitFinal = (key, w, cursor) => {\n')).toEqual(['t.emitFinal'])
    expect(hits('  x.y.z = async (e: unknown): Promise<void> => {}\n')).toEqual(['x.y.z'])
    expect(hits('    this.wake = () => resume(Effect.void)\n')).toEqual([])
    expect(hits('    const f = (a: number) => a\n    t.count = n + 1\n')).toEqual([])
  })

  it("nothing outside core imports core's internals", () => {
    const found: string[] = []
    const files = tracked('packages/', 'apps/', 'test/').filter((f) => !f.startsWith('packages/core/'))
    expect(files.length).toBeGreaterThan(50)
    const internal =
      /from\s+['"]([^'"]*(?:core\/src\/runtime\/internal\/|@stream-app\/core\/internal)[^'"]*)['"]/g
    for (const f of files) {
      const s = source(f)
      for (const m of s.matchAll(internal)) found.push(`${f}:${lineOf(s, m.index)} ${m[1]}`)
    }
    expect(found).toEqual([])
  })

  it('every Effect.try/tryPromise catches into a typed Failure, never `(e) => e`', () => {
    const found: string[] = []
    for (const f of tracked('packages/*/src/')) {
      const s = source(f)
      for (const m of s.matchAll(/catch:\s*\(?\s*(\w+)\s*\)?\s*=>\s*\1\b(?!\.)/g))
        found.push(`${f}:${lineOf(s, m.index)}`)
    }
    expect(found).toEqual([])
    expect([...'catch: (e) => e,'.matchAll(/catch:\s*\(?\s*(\w+)\s*\)?\s*=>\s*\1\b(?!\.)/g)]).toHaveLength(1)
  })

  it('every package decides retriable vs fatal on a Failure by its tag, never with isRetriable(unknown)', () => {
    const found: string[] = []
    const files = tracked('packages/').filter((f) => f.includes('/src/') && f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(100)
    for (const f of files) {
      const s = source(f)
      for (const m of s.matchAll(/\bisRetriable\s*\(/g)) found.push(`${f}:${lineOf(s, m.index)}`)
    }
    expect(found).toEqual([])
    expect([...'if (isRetriable (e))'.matchAll(/\bisRetriable\s*\(/g)]).toHaveLength(1)
  })

  it('every table kind class is built by the registration, and every definition has a kind', () => {
    const dir = 'packages/core/src/runtime/internal/'
    const kinds: string[] = []
    for (const f of tracked(dir).filter((f) => /\/table-[^/]+\.ts$/.test(f)))
      for (const m of source(f).matchAll(/^export class (\w+Kind) extends /gm)) kinds.push(m[1]!)
    expect(kinds.length).toBeGreaterThanOrEqual(5)
    const registration = source(`${dir}table-kinds.ts`)
    expect(kinds.filter((k) => !registration.includes(`new ${k}(`))).toEqual([])
    const app = createApp({ id: 'kinds' })
      .table('plain')
      .table('other')
      .table('range', { window: tumbling('1m') })
      .table('hops', { window: hopping('1m', '10s', { grace: '5s' }), final: () => {} })
      .table('sessions', { window: session('1m', { merge: (a: number, b: number) => a + b }) })
      .setTable('set')
      .tableJoin('joined', { left: 'plain', right: 'other' }, (a) => a)
    const names = Object.values(app.definition.tables).map((d) => `${d.name}:${kindNameOf(d)}`)
    expect(names).toEqual([
      'plain:plain',
      'other:plain',
      'range:windowed',
      'hops:windowed',
      'sessions:session',
      'set:set',
      'joined:joined',
    ])
    expect(Object.keys(KINDS).sort()).toEqual(['joined', 'plain', 'session', 'set', 'windowed'])
  })

  it("a table's owned partitions have one writer: the Assignment", () => {
    const found: string[] = []
    const write = /\.owned\s*=(?!=)/g
    for (const f of tracked('packages/core/src/')) {
      if (f === 'packages/core/src/runtime/assignment.ts') continue
      const s = source(f)
      for (const m of s.matchAll(write)) found.push(`${f}:${lineOf(s, m.index)}`)
    }
    expect(found).toEqual([])
    const assignment = source('packages/core/src/runtime/assignment.ts')
    expect([...assignment.matchAll(write)]).toHaveLength(1)
    expect([...'t.owned = next; if (t.owned === x) t.owned.has(1)'.matchAll(write)]).toHaveLength(1)
  })

  it("no table kind is decided outside the kind files (the core asks the table's kind)", () => {
    const found: string[] = []
    // Kind files own their decisions; the core (tables.ts) and the rest of the runtime do not branch on a kind.
    const kindFile = /\/internal\/table-(kind|kinds|plain|windowed|windows|sessions|sets|join|close)\.ts$/
    const flag = /\.(sessions|enveloped|indexed|derived|setTable|closing)\b|\bdef\.(window|set|join|final)\b/g
    const runtime = tracked('packages/core/src/runtime/').filter((f) => !kindFile.test(f))
    for (const f of runtime) {
      const s = source(f)
      for (const m of s.matchAll(flag)) {
        // The sinks deliver final values and late events, the topology sizes changelogs: not kind decisions.
        if (/\/(sinks|topology)\.ts$/.test(f)) continue
        found.push(`${f}:${lineOf(s, m.index)} ${m[0]}`)
      }
    }
    expect(found).toEqual([])
    expect([...'if (t.sessions) x; t.def.window!.ranges(ts)'.matchAll(flag)].map((m) => m[0])).toEqual([
      '.sessions',
      'def.window',
    ])
  })

  it('the main entry exports the documented API and the allowed errors, nothing of the runtime', () => {
    expect(undocumented(Object.keys(main)).sort()).toEqual([])
    const stale = Object.keys(ALLOWED_UNDOCUMENTED).filter((n) => !(n in main))
    expect(stale, 'allow-listed names the main entry no longer exports').toEqual([])
  })

  it('the check above catches a runtime value on the main entry', () => {
    expect(undocumented(Object.keys(runtimePort))).toEqual(
      expect.arrayContaining(['startRuntime', 'MemoryBroker']),
    )
    expect(undocumented(['createApp', 'tumbling', 'ConfigError'])).toEqual([])
  })
})
