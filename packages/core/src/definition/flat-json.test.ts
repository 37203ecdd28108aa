import * as Schema from 'effect/Schema'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rng } from '../../test/rng.ts'
import { type AnySchema, makeSerde } from './codec.ts'
import { messageOf } from './errors.ts'
import { flatJsonReader } from './flat-json.ts'

const Order = Schema.Struct({ id: Schema.String, n: Schema.Number, ok: Schema.Boolean })

const NUMBERS = [
  '0',
  '-0',
  '1',
  '-1',
  '12.5',
  '0.5',
  '1e3',
  '1E+3',
  '1e-3',
  '-1.25e-7',
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  '0.1',
  '5e-324',
  '2e-400',
  // not JSON numbers
  '01',
  '-',
  '1.',
  '.5',
  '+1',
  '1e',
  '1e+',
  '--1',
  '0x10',
  'NaN',
  'Infinity',
  '1_000',
  '00',
  '-01',
  '1.e3',
]
const STRINGS = [
  '""',
  '"a"',
  '"o-0000001"',
  '"ünïcödé"',
  '"日本"',
  '"emoji 😀"',
  '"a\\"b"',
  '"a\\\\b"',
  '"\\u0041"',
  '"tab\\t"',
  '"\u2028"',
  // not JSON strings
  '"raw\ttab"',
  '"raw\nnewline"',
  '"x',
  '"a"b"',
]
const BOOLEANS = ['true', 'false', 'null', 'True', 'tru', '1', '"true"']
const ANY = [...NUMBERS, ...STRINGS, ...BOOLEANS, '{}', '[]', '{"a":1}']

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/** Texts near `{"id":…,"n":…,"ok":…}`: valid and invalid values, reordered, missing and extra keys, whitespace. */
function texts(count: number, seed: number): string[] {
  const r = rng(seed)
  const out: string[] = []
  // Mostly valid values (the first `valid` of the list), some invalid ones and some of another type.
  const value = (xs: readonly string[], valid: number) => {
    const roll = r()
    return roll < 0.75 ? pick(r, xs.slice(0, valid)) : roll < 0.92 ? pick(r, xs) : pick(r, ANY)
  }
  for (let c = 0; c < count; c++) {
    let fields: [string, string][] = [
      ['id', value(STRINGS, 11)],
      ['n', value(NUMBERS, 16)],
      ['ok', value(BOOLEANS, 2)],
    ]
    const roll = r()
    if (roll < 0.05) fields.reverse()
    else if (roll < 0.1) fields.pop()
    else if (roll < 0.15) fields.push(['extra', pick(r, ANY)])
    else if (roll < 0.2) fields.push(['id', pick(r, STRINGS)])
    else if (roll < 0.22) fields = [['__proto__', '{}'], ...fields]
    const ws = () => (r() < 0.04 ? pick(r, [' ', '\n', '\t', '\r']) : '')
    let s = `${ws()}{${fields.map(([k, v]) => `${ws()}"${k}"${ws()}:${ws()}${v}${ws()}`).join(',')}}${ws()}`
    const tail = r()
    if (tail < 0.03) s += pick(r, ['}', ',', 'x', '{}'])
    else if (tail < 0.06) s = s.slice(0, Math.floor(r() * s.length))
    out.push(s)
  }
  return out
}

const parsed = (s: string): { ok: unknown } | { error: string } => {
  try {
    return { ok: JSON.parse(s) }
  } catch (e) {
    return { error: messageOf(e) }
  }
}

describe('flat JSON reader', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('returns exactly what JSON.parse returns, or gives up', () => {
    const reader = flatJsonReader(Order.ast)!
    expect(reader).toBeDefined()
    let read = 0
    for (const s of texts(20_000, 7)) {
      const got = reader.read(s)
      if (got === undefined) continue
      read++
      const want = parsed(s)
      expect('ok' in want, `${s}: read but JSON.parse fails`).toBe(true)
      const ok = (want as { ok: Record<string, unknown> }).ok
      expect(got, s).toStrictEqual(ok)
      expect(Object.keys(got as object), `${s}: key order`).toEqual(Object.keys(ok))
      for (const k of Object.keys(ok))
        expect(Object.is((got as Record<string, unknown>)[k], ok[k]), `${s}: ${k}`).toBe(true)
    }
    // The canonical shape is common among the texts: the reader must be taking it.
    expect(read).toBeGreaterThan(2_000)
  })

  it('reads the canonical shape of every value it accepts', () => {
    const reader = flatJsonReader(Order.ast)!
    for (const v of [
      { id: '', n: 0, ok: true },
      { id: 'ünï 日本 😀', n: -0, ok: false },
      { id: 'x', n: 1e21, ok: true },
      { id: 'x', n: 5e-324, ok: true },
      { id: 'x', n: -123.456e-7, ok: true },
    ]) {
      const s = JSON.stringify(v)
      expect(reader.read(s), s).toStrictEqual(JSON.parse(s))
    }
    expect(reader.read('{"id":"x","n":1e400,"ok":true}')).toStrictEqual({ id: 'x', n: Infinity, ok: true })
    expect(reader.decoded).toBe(true)
  })

  it('is made only for flat Structs of required String, Number and Boolean fields', () => {
    const none = [
      Schema.String,
      Schema.Unknown,
      Schema.Struct({}),
      Schema.Struct({ a: Schema.optionalKey(Schema.String) }),
      Schema.Struct({ a: Schema.optional(Schema.Number) }),
      Schema.Struct({ a: Schema.NullOr(Schema.Number) }),
      Schema.Struct({ a: Schema.Struct({ b: Schema.String }) }),
      Schema.Struct({ a: Schema.NumberFromString }),
      Schema.Struct({ a: Schema.Literal('x') }),
      Schema.Struct({ ['__proto__']: Schema.String }),
      Schema.Record(Schema.String, Schema.Number),
      Schema.Array(Schema.String),
    ]
    for (const s of none)
      expect(flatJsonReader((s as unknown as AnySchema).ast), String(s.ast)).toBeUndefined()
    const checked = flatJsonReader(Schema.Struct({ a: Schema.String.check(Schema.isMinLength(2)) }).ast)
    expect(checked?.decoded).toBe(false)
  })

  it("through a topic's serde: the schema's values and errors, JSON.parse only for what the reader gives up on", () => {
    const schemas = {
      plain: Order,
      checked: Schema.Struct({
        id: Schema.String.check(Schema.isMinLength(2)),
        n: Schema.Finite,
        ok: Schema.Boolean,
      }),
    }
    for (const [name, schema] of Object.entries(schemas)) {
      const serde = makeSerde<unknown>(schema as unknown as AnySchema, 'json')
      const decode = Schema.decodeUnknownSync(schema as unknown as AnySchema)
      const parse = vi.spyOn(JSON, 'parse')
      let fallbacks = 0
      for (const s of texts(3_000, 11)) {
        const reads = flatJsonReader(schema.ast)!.read(s) !== undefined
        const before = parse.mock.calls.length
        let got: { ok: unknown } | { error: string }
        try {
          got = { ok: serde.decode(Buffer.from(s)) }
        } catch (e) {
          got = { error: messageOf(e) }
        }
        const calls = parse.mock.calls.length - before
        if (!reads) fallbacks++
        expect(calls, `${name} ${s}: JSON.parse calls`).toBe(reads ? 0 : 1)
        parse.mockClear()
        let want: { ok: unknown } | { error: string }
        try {
          want = { ok: decode(JSON.parse(s)) }
        } catch (e) {
          want = { error: messageOf(e) }
        }
        expect(got, `${name} ${s}`).toStrictEqual(want)
        if ('ok' in got && 'ok' in want)
          expect(Object.keys(got.ok as object)).toEqual(Object.keys(want.ok as object))
      }
      parse.mockRestore()
      expect(fallbacks).toBeGreaterThan(100)
    }
  })
})
