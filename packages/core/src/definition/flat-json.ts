/**
 * A JSON reader made from a flat Struct schema, for the payloads producers
 * write most: `{"a":…,"b":…}` with the schema's fields in the schema's order,
 * no whitespace, no escapes. It reads such a payload about twice as fast as
 * JSON.parse (no general parser, the object built in one step) and gives up
 * (undefined) on anything else, which JSON.parse then reads, errors and all.
 *
 * What it returns is exactly what JSON.parse returns for the same text (the
 * same keys in the same order, the same strings and numbers); the topic's
 * schema's refinements still run on it (without any, decoding would only copy it). It is built from the schema's definition once,
 * never from message content.
 */
import * as SchemaAST from 'effect/SchemaAST'

/** What a field holds in the JSON. */
type Kind = 0 | 1 | 2
const STRING: Kind = 0
const NUMBER: Kind = 1
const BOOLEAN: Kind = 2

const kindOf = (ast: SchemaAST.AST): Kind | undefined => {
  // A transformation (encoding) means the JSON holds another type; an optional key may be absent.
  if (ast.encoding !== undefined || ast.context?.isOptional === true) return undefined
  switch (ast._tag) {
    case 'String':
      return STRING
    case 'Number':
      return NUMBER
    case 'Boolean':
      return BOOLEAN
    default:
      return undefined
  }
}

/** Fields a flat reader handles at most (beyond this, JSON.parse reads the payload). */
const MAX_FIELDS = 32

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

export interface FlatJsonReader {
  /** The value JSON.parse would return for `text`, or undefined if this reader cannot tell. */
  readonly read: (text: string) => unknown
  /**
   * No refinement anywhere in the schema: what `read` returns is already what
   * the schema's decoder would (a fresh object of exactly its keys, in its
   * order, each of its type), so decoding can be skipped.
   */
  readonly decoded: boolean
}

/**
 * The reader for `ast` (the schema's encoded side is what the JSON holds), or
 * undefined when the schema is not a Struct of 1 to 32 required String, Number
 * and Boolean fields without transformations. Refinements are fine: the
 * schema's decoder then still runs on what the reader returns.
 */
export function flatJsonReader(ast: SchemaAST.AST): FlatJsonReader | undefined {
  if (!SchemaAST.isObjects(ast) || ast.encoding !== undefined || ast.indexSignatures.length > 0) return
  const fields = ast.propertySignatures
  if (fields.length === 0 || fields.length > MAX_FIELDS) return
  const names: string[] = []
  const kinds: Kind[] = []
  for (const f of fields) {
    const kind = kindOf(f.type)
    // `"__proto__": v` in an object literal would set the prototype, not a key.
    if (typeof f.name !== 'string' || f.name === '__proto__' || kind === undefined) return
    names.push(f.name)
    kinds.push(kind)
  }
  const prefixes = names.map((n, i) => (i === 0 ? '{' : ',') + JSON.stringify(n) + ':')
  // One object literal of the schema's keys (quoted by JSON.stringify): built from the schema, not from data.
  const build = new Function(
    'v',
    `return {${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')}}`,
  ) as (values: unknown[]) => unknown
  const values: unknown[] = new Array(names.length)
  const decoded = ast.checks === undefined && fields.every((f) => f.type.checks === undefined)

  const read = (s: string): unknown => {
    const n = s.length
    let i = 0
    for (let f = 0; f < prefixes.length; f++) {
      const p = prefixes[f]!
      if (!s.startsWith(p, i)) return undefined
      i += p.length
      const kind = kinds[f]
      if (kind === STRING) {
        if (s.charCodeAt(i) !== 0x22) return undefined
        let j = i + 1
        for (;;) {
          if (j >= n) return undefined
          const c = s.charCodeAt(j)
          if (c === 0x22) break
          // An escape or a raw control character: JSON.parse decides.
          if (c === 0x5c || c < 0x20) return undefined
          j++
        }
        values[f] = s.slice(i + 1, j)
        i = j + 1
      } else if (kind === NUMBER) {
        // JSON's number grammar exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        let j = i
        let c = s.charCodeAt(j)
        if (c === 0x2d) c = s.charCodeAt(++j)
        if (c === 0x30) c = s.charCodeAt(++j)
        else if (c >= 0x31 && c <= 0x39) {
          do c = s.charCodeAt(++j)
          while (isDigit(c))
        } else return undefined
        if (c === 0x2e) {
          c = s.charCodeAt(++j)
          if (!isDigit(c)) return undefined
          do c = s.charCodeAt(++j)
          while (isDigit(c))
        }
        if (c === 0x65 || c === 0x45) {
          c = s.charCodeAt(++j)
          if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++j)
          if (!isDigit(c)) return undefined
          do c = s.charCodeAt(++j)
          while (isDigit(c))
        }
        values[f] = Number(s.slice(i, j))
        i = j
      } else if (s.startsWith('true', i)) {
        values[f] = true
        i += 4
      } else if (s.startsWith('false', i)) {
        values[f] = false
        i += 5
      } else return undefined
    }
    if (i + 1 !== n || s.charCodeAt(i) !== 0x7d) return undefined
    return build(values)
  }
  return { read, decoded }
}
