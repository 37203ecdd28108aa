/**
 * The README's table reference lists every member of each table kind, and
 * only those: its lists are compared with the members of the exported
 * interfaces, read from their declarations with the TypeScript compiler, so a
 * method added to (or renamed in) Table, WindowedTable or SetTable fails here
 * until the README says what it does.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const TYPES = fileURLToPath(new URL('../src/definition/types.ts', import.meta.url))

interface Declared {
  readonly members: string[]
  /** Whether it extends another interface (whose members this list would miss). */
  readonly extends: boolean
}

/** The members of each interface of types.ts, by interface name. */
function interfaceMembers(): Map<string, Declared> {
  const source = ts.createSourceFile(TYPES, readFileSync(TYPES, 'utf8'), ts.ScriptTarget.Latest, true)
  const out = new Map<string, Declared>()
  for (const node of source.statements)
    if (ts.isInterfaceDeclaration(node)) {
      const names = node.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : []))
      out.set(node.name.text, {
        members: [...new Set(names)].sort(),
        extends: !!node.heritageClauses?.length,
      })
    }
  return out
}

interface Kind {
  readonly kind: string
  readonly type: string
  readonly members: string[]
}

/** The kinds the README's "Table reference" section lists: a bold kind, its type, then one `- \`member…\`` line each. */
function readmeKinds(): Kind[] {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  const start = readme.indexOf('\n### Table reference\n')
  expect(start, 'README has a "### Table reference" section').toBeGreaterThan(0)
  const rest = readme.slice(start + 1)
  const section = rest.slice(0, rest.slice(4).search(/\n#{2,3} /) + 4)
  const kinds: { kind: string; type: string; members: string[] }[] = []
  for (const line of section.split('\n')) {
    const head = /^\*\*(\w+)\*\* — `(\w+)</.exec(line)
    if (head) kinds.push({ kind: head[1]!, type: head[2]!, members: [] })
    const member = /^- `(\w+)/.exec(line)
    if (member) {
      expect(kinds.length, `member line before any kind: ${line}`).toBeGreaterThan(0)
      kinds.at(-1)!.members.push(member[1]!)
    }
  }
  return kinds
}

describe('the README table reference', () => {
  it('lists every table kind, each with exactly the members of its exported interface, once each', () => {
    const members = interfaceMembers()
    const kinds = readmeKinds()
    expect(kinds.map((k) => k.kind)).toEqual(['Plain', 'Windowed', 'Set', 'Global', 'Joined'])
    for (const k of kinds) {
      const declared = members.get(k.type)
      expect(declared, `${k.kind}: no interface ${k.type} in types.ts`).toBeDefined()
      expect(declared!.extends, `${k.kind}: ${k.type} extends another interface`).toBe(false)
      expect(new Set(k.members).size, `${k.kind}: a member listed twice`).toBe(k.members.length)
      expect({ kind: k.kind, members: [...k.members].sort() }).toEqual({
        kind: k.kind,
        members: declared!.members,
      })
    }
  })

  it('names the interfaces the app types tables with (TableOf)', () => {
    const types = readFileSync(TYPES, 'utf8')
    const tableOf = /export type TableOf<[^=]+=([\s\S]*?)\n\n/.exec(types)?.[1] ?? ''
    for (const t of ['Table<', 'WindowedTable<', 'SetTable<']) expect(tableOf).toContain(t)
    expect(new Set(readmeKinds().map((k) => k.type))).toEqual(new Set(['Table', 'WindowedTable', 'SetTable']))
  })
})
