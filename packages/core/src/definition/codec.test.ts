import * as Schema from 'effect/Schema'
import { afterEach, describe, expect, it } from 'vitest'
import { type AnySchema, makeSerde } from './codec.ts'
import { messageOf } from './errors.ts'

/** Each call builds new schema objects: one copy is compiled by makeSerde, the other stays interpreted. */
const shapes = () => ({
  plain: Schema.Struct({ id: Schema.String, n: Schema.Number, ok: Schema.Boolean }),
  nested: Schema.Struct({
    kind: Schema.Literal('order'),
    line: Schema.Struct({ sku: Schema.String, qty: Schema.Int }),
    tags: Schema.Array(Schema.String),
  }),
  optional: Schema.Struct({
    a: Schema.optionalKey(Schema.String),
    b: Schema.optional(Schema.NullOr(Schema.Number)),
  }),
  checked: Schema.Struct({ name: Schema.String.check(Schema.isMinLength(2)), age: Schema.Finite }),
  transformed: Schema.Struct({ n: Schema.NumberFromString, at: Schema.DateFromString }),
  union: Schema.Union([Schema.Struct({ t: Schema.Literal('a'), x: Schema.Number }), Schema.String]),
})

const inputs: unknown[] = [
  { id: 'a', n: 1, ok: true },
  { id: 'a', n: 1, ok: true, extra: 'ignored' },
  { id: 'a', n: '1', ok: true },
  { n: 1, ok: true },
  { kind: 'order', line: { sku: 's-1', qty: 2 }, tags: ['x', 'y'] },
  { kind: 'order', line: { sku: 's-1', qty: 2.5 }, tags: [] },
  { kind: 'other', line: { sku: 's-1', qty: 2 }, tags: [] },
  { kind: 'order', line: null, tags: [] },
  {},
  { a: 'x' },
  { a: 1 },
  { b: null },
  { b: undefined },
  { name: 'ann', age: 3 },
  { name: 'a', age: 3 },
  { name: 'ann', age: Number.POSITIVE_INFINITY },
  { n: '12', at: '2026-11-29T00:00:00.000Z' },
  { n: 'twelve', at: '2026-11-29T00:00:00.000Z' },
  { n: 12, at: 'not a date' },
  { t: 'a', x: 1 },
  { t: 'b', x: 1 },
  'a string',
  null,
  [],
  [1, 2],
  42,
  { toString: 'own', id: 'a', n: 1, ok: false },
]

const outcome = (f: () => unknown): { ok: unknown } | { error: string } => {
  try {
    return { ok: f() }
  } catch (e) {
    return { error: messageOf(e instanceof Error && e.cause !== undefined ? e.cause : e) }
  }
}

describe('compiled topic schemas', () => {
  const original = globalThis.Function
  afterEach(() => {
    globalThis.Function = original
  })

  it('decode and encode exactly as Effect interprets the same schema: values, key order and errors', () => {
    // Count the code Effect generates while our compiled copies decode (none may come from input).
    const generated: string[] = []
    globalThis.Function = new Proxy(original, {
      apply(target, self, args: string[]) {
        const source = String(args.at(-1))
        // Effect first checks that it may generate code at all ("return true").
        if (source !== 'return true') generated.push(source)
        return Reflect.apply(target, self, args)
      },
    })
    const compiled = shapes()
    const interpreted = shapes()
    const names = Object.keys(compiled) as (keyof ReturnType<typeof shapes>)[]
    const serdes = names.map((name) => makeSerde<unknown>(compiled[name] as unknown as AnySchema, 'json'))
    const decoded: { name: string; bytes: Buffer; value: unknown; want: unknown }[] = []
    names.forEach((name, i) => {
      const decode = Schema.decodeUnknownSync(interpreted[name] as unknown as AnySchema)
      for (const input of inputs) {
        const bytes = Buffer.from(JSON.stringify(input) ?? 'null')
        const got = outcome(() => serdes[i]!.decode(bytes))
        const want = outcome(() => decode(JSON.parse(bytes.toString('utf8'))))
        expect(got, `${name} ${bytes}`).toEqual(want)
        if ('ok' in got && 'ok' in want) {
          expect(Object.keys(got.ok ?? {}), `${name} ${bytes}: key order`).toEqual(Object.keys(want.ok ?? {}))
          decoded.push({ name, bytes, value: got.ok, want: want.ok })
        }
      }
    })
    // Decoding ran Effect's generated decoders (made from the schemas only: no input text in them).
    const fromDecoding = generated.length
    expect(fromDecoding).toBeGreaterThan(0)
    expect(decoded.length).toBeGreaterThan(10)
    for (const { name, bytes, value, want } of decoded) {
      const i = names.indexOf(name as (typeof names)[number])
      const encode = Schema.encodeUnknownSync(interpreted[names[i]!] as unknown as AnySchema)
      const back = outcome(() => serdes[i]!.encode(value))
      const wantBack = outcome(() => Buffer.from(JSON.stringify(encode(want))))
      expect(back, `${name} ${bytes}: encode`).toEqual(wantBack)
    }
    for (const source of generated) expect(source).not.toContain('s-1')
  })
})
