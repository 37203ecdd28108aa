/**
 * The structural rules of the runtime that a machine can check (issue 21):
 * parts get their collaborators at construction (no callback field assigned
 * afterwards), core's internals stay inside core, and every failure caught
 * from a promise or a throw becomes a typed Failure (no `catch: (e) => e`).
 * Each rule reads the sources as git lists them and names the offending lines.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

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

describe('structure', () => {
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
})
