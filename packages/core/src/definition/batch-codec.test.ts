import * as Schema from 'effect/Schema'
import { describe, expect, it } from 'vitest'
import { rng } from '../../test/rng.ts'
import type { ProduceRecord } from '../ports/index.ts'
import { type AnySchema, makeSerde, type Payload, textRecordsToBytes } from './codec.ts'

const json = makeSerde<unknown>(Schema.Unknown as AnySchema, 'json')
const parseMany = json.parseMany!

const payloads = (...texts: (string | Uint8Array | null)[]): Payload[] =>
  texts.map((t) => ({ value: t === null ? null : typeof t === 'string' ? Buffer.from(t, 'utf8') : t }))

/** What JSON.parse makes of one payload alone: its value, or the fact that it fails. */
const alone = (p: Payload): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(Buffer.from(p.value!).toString('utf8')) }
  } catch {
    return { ok: false }
  }
}

describe('parsing many JSON payloads at once (Serde.parseMany)', () => {
  it('gives each payload the value it has alone', () => {
    const ps = payloads(
      '{"id":"a","n":1}',
      '[1,2,{"x":[]}]',
      '"é ü 🙂"',
      ' 42 ',
      'true',
      'null',
      '{"__proto__":{"x":1}}',
    )
    const many = parseMany(ps, 0, ps.length)
    expect(many).toBeDefined()
    expect(many).toEqual(ps.map((p) => (alone(p) as { value: unknown }).value))
    expect(Object.hasOwn(many![6] as object, '__proto__')).toBe(true)
    // a range of the records only
    expect(parseMany(ps, 2, 5)).toEqual(['é ü 🙂', 42, true])
  })

  it('refuses payloads that only parse together: each must be a value by itself', () => {
    const forged = [
      ['1,2', '[3', '4]'],
      ['[[1', '2]]', '3],[4'],
      ['"a', '"', '1],[2'],
      ['{"x":"}', '{"y":1}"}', '5'],
      ['1', '2]', '[3'],
      ['', '1', '2'],
      ['1', '', '2'],
      ['{"a":1}', '{"b":2},{"c":3}', ']', '['],
      ['"\\', '"', '1'],
    ]
    for (const texts of forged)
      expect(parseMany(payloads(...texts), 0, texts.length), texts.join(' | ')).toBeUndefined()
  })

  it('stops at a null payload and never returns fewer than two values', () => {
    expect(parseMany(payloads('1', null, '2'), 0, 3)).toBeUndefined()
    expect(parseMany(payloads('1', '2', null, '3'), 0, 4)).toEqual([1, 2])
    expect(parseMany(payloads('1'), 0, 1)).toBeUndefined()
  })

  it('reads bytes that are not UTF-8 as the payload alone reads them', () => {
    const bad = Uint8Array.from([0x22, 0xff, 0x61, 0x22]) // "\xffa"
    const truncated = Uint8Array.from([0x22, 0x61, 0x22, 0xe2]) // "a" then a cut-off character
    expect(parseMany(payloads(bad, '1'), 0, 2)).toEqual(['\ufffda', 1])
    expect(parseMany(payloads(truncated, '1'), 0, 2)).toBeUndefined()
    expect(alone(payloads(truncated)[0]!).ok).toBe(false)
  })

  it('joins at most 64 KB of payloads; larger ones are parsed alone', () => {
    const big = `"${'x'.repeat(200_000)}"`
    expect(parseMany(payloads(big, big, big, big), 0, 4)).toBeUndefined()
    expect(parseMany(payloads('1', '2', big), 0, 3)).toEqual([1, 2])
    const small = payloads(...Array.from({ length: 1000 }, (_, i) => `"${String(i).padStart(98, '0')}"`))
    const many = parseMany(small, 0, 1000)!
    expect(many.length).toBeGreaterThan(600)
    expect(many.length).toBeLessThan(660)
    expect(many[many.length - 1]).toBe(String(many.length - 1).padStart(98, '0'))
  })

  it('never stands for a payload that does not parse alone (random sequences of fragments)', () => {
    const fragments = [
      '1',
      '2',
      '-3.5e2',
      'true',
      'null',
      '"a"',
      '"b,c"',
      '"[" ',
      '"\\""',
      '"\\\\"',
      '{}',
      '[]',
      '{"k":[1,{"x":"}"}]}',
      '[1,2]',
      '{"a":1}',
      ' 7 ',
      '1,2',
      '[3',
      '4]',
      '"a',
      'b"',
      '"',
      '{',
      '}',
      '[',
      ']',
      ',',
      '',
      '{"x":"}',
      '{"y":1}"}',
      '1],[2',
      '[[1',
      '2]]',
      'tru',
      'e',
      '"é"',
      '\\',
      '"\\',
      '0x1',
      '{"a":1}}',
      '{{"a":1}',
    ]
    const next = rng(20261129)
    let batched = 0
    for (let round = 0; round < 20000; round++) {
      const n = 2 + Math.floor(next() * 4)
      const texts = Array.from({ length: n }, () => fragments[Math.floor(next() * fragments.length)]!)
      const ps = payloads(...texts)
      const many = parseMany(ps, 0, n)
      const each = ps.map(alone)
      if (many === undefined) continue
      batched++
      expect(many, JSON.stringify(texts)).toHaveLength(n)
      each.forEach((r, i) => {
        expect(r.ok, JSON.stringify(texts)).toBe(true)
        expect(many[i], JSON.stringify(texts)).toEqual((r as { value: unknown }).value)
      })
    }
    // the sequences where every fragment is valid JSON are parsed together
    expect(batched).toBeGreaterThan(100)
  })

  it('decodeParsed validates as decode does, with the same error', () => {
    // (an optional key: a flat Struct's payloads are read one by one, see flat-json.ts)
    const schema = Schema.Struct({ n: Schema.Number, note: Schema.optionalKey(Schema.String) })
    const serde = makeSerde<unknown>(schema as unknown as AnySchema, 'json')
    const [ok, bad] = serde.parseMany!(payloads('{"n":1}', '{"n":"x"}'), 0, 2)!
    expect(serde.decodeParsed(ok)).toEqual({ n: 1 })
    let viaDecode = ''
    try {
      serde.decode(Buffer.from('{"n":"x"}'))
    } catch (e) {
      viaDecode = (e as Error).message
    }
    expect(viaDecode).toMatch(/Expected number/)
    expect(() => serde.decodeParsed(bad)).toThrow(viaDecode)
  })

  it('is offered for the json codec only, and not where a flat reader reads one payload faster', () => {
    const flat = Schema.Struct({ n: Schema.Number })
    expect(makeSerde(flat as unknown as AnySchema, 'json').parseMany).toBeUndefined()
    expect(makeSerde(Schema.String as unknown as AnySchema, 'string').parseMany).toBeUndefined()
    expect(makeSerde(Schema.Unknown as AnySchema, 'raw').parseMany).toBeUndefined()
  })
})

describe('making the bytes of many text records at once (textRecordsToBytes)', () => {
  type Rec = ProduceRecord & { value: Uint8Array | null; text?: string | undefined }
  const rec = (text: string | undefined, value: Uint8Array | null = null): Rec => ({
    topic: 't',
    partition: 0,
    key: null,
    value,
    timestamp: 0,
    text,
  })

  it('gives each record the UTF-8 bytes of its text and forgets the text', () => {
    const texts = ['{"a":1}', '', 'plain', 'é', '🙂', '\ud800', '"x"']
    const records = [...texts.map((t) => rec(t)), rec(undefined, Buffer.from('bytes')), rec(undefined, null)]
    textRecordsToBytes(records)
    texts.forEach((t, i) => {
      expect(Buffer.from(records[i]!.value!).toString('hex'), t).toBe(Buffer.from(t, 'utf8').toString('hex'))
      expect(records[i]!.text).toBeUndefined()
    })
    expect(Buffer.from(records[7]!.value!).toString()).toBe('bytes')
    expect(records[8]!.value).toBeNull()
  })

  it('ASCII texts become views of one buffer', () => {
    const records = [rec('{"a":1}'), rec('hello'), rec('[1,2,3]')]
    textRecordsToBytes(records)
    expect(records.map((r) => Buffer.from(r.value!).toString())).toEqual(['{"a":1}', 'hello', '[1,2,3]'])
    expect(records[1]!.value!.buffer).toBe(records[0]!.value!.buffer)
    expect(records[2]!.value!.buffer).toBe(records[0]!.value!.buffer)
  })

  it('joins at most ~1 MB of text per buffer; a run with non-ASCII text gets a buffer per record', () => {
    const big = 'a'.repeat(400_000)
    const texts = [big, big, big, 'é', 'x', 'y']
    const records = texts.map((t) => rec(t))
    textRecordsToBytes(records)
    for (const [i, t] of texts.entries())
      expect(Buffer.from(records[i]!.value!).equals(Buffer.from(t, 'utf8')), `record ${i}`).toBe(true)
    // the first run is two records (a third would pass 1 MB); the rest, holding 'é', one buffer each
    expect(records[1]!.value!.buffer).toBe(records[0]!.value!.buffer)
    expect(records[2]!.value!.buffer).not.toBe(records[0]!.value!.buffer)
    expect(records[2]!.value!.byteLength).toBe(400_000)
  })

  it('encodeText is what encode writes, for json and string codecs', () => {
    const values = [{ a: 1, b: 'é' }, 'text', 3, null]
    const j = makeSerde<unknown>(Schema.Unknown as AnySchema, 'json')
    for (const v of values) {
      const t = j.encodeText!(v)
      const bytes = j.encode(v)
      expect(t === null ? null : Buffer.from(t, 'utf8').toString('hex')).toEqual(
        bytes === null ? null : Buffer.from(bytes).toString('hex'),
      )
    }
    const s = makeSerde<unknown>(Schema.Unknown as AnySchema, 'string')
    expect(s.encodeText!('ü')).toBe('ü')
    expect(() => s.encodeText!(1)).toThrow(/string codec expects a string/)
    expect(() => makeSerde<unknown>(Schema.String as unknown as AnySchema, 'string').encodeText!(1)).toThrow(
      /Expected string/,
    )
    expect(() => j.encodeText!(10n)).toThrow()
    expect(makeSerde(Schema.Unknown as AnySchema, 'raw').encodeText).toBeUndefined()
  })
})
