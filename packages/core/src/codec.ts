/**
 * Serialization of keys and values: a codec (json, string, raw) turns bytes into
 * a plain value, then the topic's Effect Schema validates and decodes it. Both
 * directions are compiled once per topic so the hot path is two function calls.
 * There is deliberately no codec that can construct arbitrary objects or run code.
 */
import * as Schema from 'effect/Schema'
import * as SchemaAST from 'effect/SchemaAST'
import * as SchemaJITCompiler from 'effect/schema/SchemaJITCompiler'
import { ConfigError } from './errors.ts'

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
}

const toBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const parsers: Record<CodecName, (b: Uint8Array) => unknown> = {
  json: (b) => JSON.parse(toBuffer(b).toString('utf8')),
  string: (b) => toBuffer(b).toString('utf8'),
  raw: (b) => b,
}

const serializers: Record<CodecName, (v: unknown) => Uint8Array> = {
  json: (v) => {
    const s = JSON.stringify(v)
    if (s === undefined) throw new Error('value is not JSON-serializable')
    return Buffer.from(s, 'utf8')
  },
  string: (v) => {
    if (typeof v !== 'string') throw new Error(`string codec expects a string, got ${typeof v}`)
    return Buffer.from(v, 'utf8')
  },
  raw: (v) => {
    if (!(v instanceof Uint8Array)) throw new Error(`raw codec expects a Uint8Array, got ${typeof v}`)
    return v
  },
}

/** Makes a schema error one readable line. */
export const oneLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim()

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
  const parse = parsers[codec]
  const serialize = serializers[codec]
  const passthrough = isUnknown(schema)
  const { decode: decodeSchema, encode: encodeSchema } = schemaCodec(schema)
  const decode = (bytes: Uint8Array | null): T => {
    const raw = bytes === null ? null : parse(bytes)
    return (passthrough ? raw : decodeSchema(raw)) as T
  }
  const encode = (value: T): Uint8Array | null => {
    const enc = passthrough ? value : encodeSchema(value)
    if (enc === null || enc === undefined) return null
    return serialize(enc)
  }
  return { decode, encode, parse: (b) => (b === null ? null : parse(b)) }
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
  }
}
