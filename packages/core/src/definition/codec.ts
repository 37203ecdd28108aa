/**
 * Serialization of keys and values: a codec (json, string, raw) turns bytes into
 * a plain value, then the topic's Effect Schema validates and decodes it. Both
 * directions are compiled once per topic so the hot path is two function calls.
 * There is deliberately no codec that can construct arbitrary objects or run code.
 */
import * as Schema from 'effect/Schema'
import * as SchemaAST from 'effect/SchemaAST'
import * as SchemaJITCompiler from 'effect/schema/SchemaJITCompiler'
import type { ProduceRecord } from '../ports/index.ts'
import { ConfigError } from './errors.ts'
import { flatJsonReader } from './flat-json.ts'

export type CodecName = 'json' | 'string' | 'raw'
export const CODECS: readonly CodecName[] = ['json', 'string', 'raw']

/** Any Effect Schema that can decode and encode without services. */
export type AnySchema = Schema.Codec<unknown, unknown, never, never>

export interface Serde<T> {
  /** bytes → validated value; throws with a one-line reason. */
  readonly decode: (bytes: Uint8Array | null) => T
  /** value → bytes; throws with a one-line reason. */
  readonly encode: (value: T) => Uint8Array | null
  /** bytes → value without schema validation (for diagnostics and `sent()`). */
  readonly parse: (bytes: Uint8Array | null) => unknown
  /** A parsed value (see parseMany) → validated value; throws as `decode` does. */
  readonly decodeParsed: (raw: unknown) => T
  /**
   * The json codec only: the parsed, not yet validated values of `records[from..to)` with
   * one JSON.parse, or undefined when that cannot stand for parsing each alone (then decode
   * each: a malformed payload gets its own error).
   */
  readonly parseMany:
    | ((records: readonly Payload[], from: number, to: number) => unknown[] | undefined)
    | undefined
  /**
   * The json and string codecs: value → its text, validated and encoded as `encode` does;
   * the bytes are made for many records at once (see textRecordsToBytes).
   */
  readonly encodeText: ((value: T) => string | null) | undefined
}

/** What parseMany reads of a record. */
export interface Payload {
  readonly value: Uint8Array | null
}

const toBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const parsers: Record<CodecName, (b: Uint8Array) => unknown> = {
  json: (b) => JSON.parse(toBuffer(b).toString('utf8')),
  string: (b) => toBuffer(b).toString('utf8'),
  raw: (b) => b,
}

/** The text of a value for the codecs that write text; `encodeText` keeps it as text until a batch is written. */
const jsonText = (v: unknown): string => {
  const s = JSON.stringify(v)
  if (s === undefined) throw new Error('value is not JSON-serializable')
  return s
}
const stringText = (v: unknown): string => {
  if (typeof v !== 'string') throw new Error(`string codec expects a string, got ${typeof v}`)
  return v
}
const texts: Record<CodecName, ((v: unknown) => string) | undefined> = {
  json: jsonText,
  string: stringText,
  raw: undefined,
}

const serializers: Record<CodecName, (v: unknown) => Uint8Array> = {
  json: (v) => Buffer.from(jsonText(v), 'utf8'),
  string: (v) => Buffer.from(stringText(v), 'utf8'),
  raw: (v) => {
    if (!(v instanceof Uint8Array)) throw new Error(`raw codec expects a Uint8Array, got ${typeof v}`)
    return v
  },
}

/**
 * True if `b[start..end)` holds no top-level comma and no bracket that closes
 * outside it, with every string closed: then, placed between commas inside
 * `[ ]`, it can only be read as one element of that array. Scanned byte by
 * byte, as JSON's strings and escapes are all ASCII.
 */
function selfContained(b: Uint8Array, start: number, end: number): boolean {
  let depth = 0
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c === 0x22) {
      // a string, to its closing quote
      for (;;) {
        if (++i >= end) return false
        const d = b[i]!
        if (d === 0x22) break
        if (d === 0x5c) i++
      }
    } else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (--depth < 0) return false
    } else if (c === 0x2c && depth === 0) return false
  }
  return depth === 0
}

/** Payload bytes parseMany joins at most (~1 ms of parsing); larger payloads are parsed alone. */
const PARSE_MANY_BYTES = 64 * 1024
/** Where parseMany joins payloads (copied out by toString, so one serves every call). */
let scratch: Buffer | undefined

/**
 * Parses many JSON payloads with one JSON.parse of `[p1,p2,...]`: per payload
 * that saves a string and the parser's setup, about a third of parsing small
 * messages. Sound because each payload is checked to be self-contained (no
 * payload can join or split another's elements) and the array must have one
 * element per payload; UTF-8 decoding never merges bytes across the ASCII
 * separators, so each element reads exactly the text its payload alone would.
 */
function parseJsonMany(records: readonly Payload[], from: number, to: number): unknown[] | undefined {
  let bytes = 1
  let end = from
  while (end < to) {
    const v = records[end]!.value
    if (v === null) break
    if (bytes + v.byteLength > PARSE_MANY_BYTES) break
    bytes += v.byteLength + 1
    end++
  }
  const n = end - from
  if (n < 2) return undefined
  const buf = (scratch ??= Buffer.allocUnsafe(PARSE_MANY_BYTES + 1))
  let o = 0
  buf[o++] = 0x5b
  for (let i = from; i < end; i++) {
    if (i > from) buf[o++] = 0x2c
    const v = records[i]!.value!
    buf.set(v, o)
    if (!selfContained(buf, o, o + v.byteLength)) return undefined
    o += v.byteLength
  }
  buf[o++] = 0x5d
  let out: unknown
  try {
    out = JSON.parse(buf.toString('utf8', 0, o))
  } catch {
    return undefined
  }
  return Array.isArray(out) && out.length === n ? out : undefined
}

/** Text textRecordsToBytes joins into one buffer at most (far below V8's string length limit). */
const JOIN_CHARS = 1024 * 1024

/**
 * Gives records whose value is still text (see Serde.encodeText) their bytes:
 * one Buffer per run of up to ~1 MB of text, each value a view of its part — a
 * string and a buffer per run instead of per record. When a run's text has
 * non-ASCII characters (byte offsets then differ from string offsets), each of
 * its records gets its own buffer, as `encode` makes it.
 */
export function textRecordsToBytes(records: readonly ProduceRecord[]): void {
  let from = 0
  while (from < records.length) {
    let joined = ''
    let n = 0
    let end = from
    for (; end < records.length; end++) {
      const t = (records[end] as TextRecord).text
      if (t === undefined) continue
      if (n > 0 && joined.length + t.length > JOIN_CHARS) break
      joined += t
      n++
    }
    if (n > 0) bytesOfRun(records, from, end, joined, n)
    from = end
  }
}

function bytesOfRun(records: readonly ProduceRecord[], from: number, end: number, joined: string, n: number) {
  const buf = n > 1 ? Buffer.from(joined, 'utf8') : undefined
  const views = buf !== undefined && buf.length === joined.length
  let o = 0
  for (let i = from; i < end; i++) {
    const r = records[i] as TextRecord
    const t = r.text
    if (t === undefined) continue
    r.value = views ? buf!.subarray(o, (o += t.length)) : Buffer.from(t, 'utf8')
    r.text = undefined
  }
}

/** A record whose value bytes are made later from its text (see textRecordsToBytes). */
export interface TextRecord {
  value: Uint8Array | null
  text?: string | undefined
}

export function checkCodec(name: unknown, where: string): CodecName {
  if (name === undefined) return 'json'
  if (typeof name === 'string' && (CODECS as readonly string[]).includes(name)) return name as CodecName
  throw new ConfigError(
    `${where}: unknown codec ${JSON.stringify(name)} (expected one of ${CODECS.join(', ')})`,
  )
}

/**
 * Has Effect generate a decoder and an encoder for a schema (its JIT compiler):
 * code built from the schema's definition once, never from message content.
 * Failures still go through Effect's interpreter, so errors read the same.
 */
export function compileSchema(schema: AnySchema): void {
  SchemaJITCompiler.enable(schema.ast)
  const flipped = SchemaAST.flip(schema.ast)
  if (flipped !== schema.ast) SchemaJITCompiler.enable(flipped)
}

const isUnknown = (s: AnySchema): boolean => s.ast._tag === 'Unknown' || s.ast._tag === 'Any'

const identity = (v: unknown): unknown => v

/** A schema's value decoder and encoder: Effect's, compiled; the identity for Unknown and Any. */
export function schemaCodec(schema: AnySchema): {
  readonly decode: (input: unknown) => unknown
  readonly encode: (value: unknown) => unknown
} {
  if (isUnknown(schema)) return { decode: identity, encode: identity }
  compileSchema(schema)
  return { decode: Schema.decodeUnknownSync(schema), encode: Schema.encodeUnknownSync(schema) }
}

/**
 * Compiles codec + schema into a Serde. A null payload (a Kafka null key or a
 * tombstone) decodes to null without touching the schema when the schema accepts null.
 */
export function makeSerde<T>(schema: AnySchema, codec: CodecName): Serde<T> {
  const serialize = serializers[codec]
  const passthrough = isUnknown(schema)
  const { decode: decodeSchema, encode: encodeSchema } = schemaCodec(schema)
  // A flat Struct's payloads are read by a reader made from it where they have the usual shape.
  const flat = codec === 'json' && !passthrough ? flatJsonReader(schema.ast) : undefined
  const parse =
    flat === undefined
      ? parsers[codec]
      : (b: Uint8Array): unknown => {
          const text = toBuffer(b).toString('utf8')
          return flat.read(text) ?? JSON.parse(text)
        }
  const decodeParsed = (raw: unknown): T => (passthrough ? raw : decodeSchema(raw)) as T
  const decode =
    flat === undefined
      ? (bytes: Uint8Array | null): T => decodeParsed(bytes === null ? null : parse(bytes))
      : (bytes: Uint8Array | null): T => {
          if (bytes === null) return decodeParsed(null)
          const text = toBuffer(bytes).toString('utf8')
          const read = flat.read(text)
          if (read === undefined) return decodeSchema(JSON.parse(text)) as T
          // Typed by the reader and nothing else to check: the decoder would return an equal copy.
          return (flat.decoded ? read : decodeSchema(read)) as T
        }
  /** The schema-encoded value, or null for none (a tombstone). */
  const encoded = (value: T): unknown => {
    const enc = passthrough ? value : encodeSchema(value)
    return enc === undefined ? null : enc
  }
  const encode = (value: T): Uint8Array | null => {
    const enc = encoded(value)
    return enc === null ? null : serialize(enc)
  }
  const text = texts[codec]
  const encodeText =
    text === undefined
      ? undefined
      : (value: T): string | null => {
          const enc = encoded(value)
          return enc === null ? null : text(enc)
        }
  return {
    decode,
    encode,
    parse: (b) => (b === null ? null : parse(b)),
    decodeParsed,
    // One payload at a time through the flat reader beats one JSON.parse of many.
    parseMany: codec === 'json' && flat === undefined ? parseJsonMany : undefined,
    encodeText,
  }
}

/**
 * Keys: a String key schema is written as plain UTF-8 bytes (what Kafka's
 * StringSerializer writes, so partitions agree with Java producers); other key
 * schemas use JSON.
 */
export function makeKeySerde<K>(schema: AnySchema): Serde<K | null> {
  const codec: CodecName = schema.ast._tag === 'String' ? 'string' : 'json'
  const inner = makeSerde<K>(schema, codec)
  return {
    decode: (b) => (b === null ? null : inner.decode(b)),
    encode: (k) => (k === null || k === undefined ? null : inner.encode(k as K)),
    parse: inner.parse,
    // Keys are encoded at once (they choose the partition) and decoded one by one.
    decodeParsed: inner.decodeParsed,
    parseMany: undefined,
    encodeText: undefined,
  }
}
