/**
 * JSON Schema: UTF-8 JSON after the 5-byte header (no message indexes), as
 * Java's KafkaJsonSchemaSerializer writes it. Values are checked against the
 * codec's JSON Schema with Ajv (compiled once from the schema, never from a
 * message) when written and when read, unless `validate: false`.
 */
import AjvModule, { type ValidateFunction } from 'ajv'
import Ajv2019Module from 'ajv/dist/2019.js'
import Ajv2020Module from 'ajv/dist/2020.js'
import type { Format } from './codec.ts'
import { WireBytes, wireHeader } from './wire.ts'

/** A JSON Schema document: its text or the parsed object. */
export type JsonSchemaDocument = string | Readonly<Record<string, unknown>>

type AjvClass = typeof AjvModule.default
const cls = (m: unknown): AjvClass => ((m as { default?: AjvClass }).default ?? m) as AjvClass

/** The validator of a JSON Schema, by the draft its `$schema` names (draft-07 when none). */
export function jsonValidator(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  const draft = typeof schema.$schema === 'string' ? schema.$schema : ''
  const Ajv = draft.includes('2020-12')
    ? cls(Ajv2020Module)
    : draft.includes('2019-09')
      ? cls(Ajv2019Module)
      : cls(AjvModule)
  try {
    return new Ajv({ strict: false, allErrors: false }).compile(schema)
  } catch (e) {
    throw new Error(`invalid JSON Schema: ${e instanceof Error ? e.message : String(e)}`)
  }
}

function check(validate: ValidateFunction | undefined, value: unknown): void {
  if (validate === undefined || validate(value)) return
  const e = validate.errors?.[0]
  throw new Error(
    `JSON Schema: ${e ? `${e.instancePath || 'value'} ${e.message ?? 'is invalid'}` : 'invalid value'}`,
  )
}

/** The JSON Schema format writing schema id `id`; `validate` undefined: no checks. */
export function jsonSchemaFormat(
  subject: string,
  id: number,
  validate: ValidateFunction | undefined,
): Format {
  const header = wireHeader(id)
  return {
    subject,
    id,
    write: (value) => {
      check(validate, value)
      const text = JSON.stringify(value)
      if (text === undefined) throw new Error('value is not JSON-serializable')
      const out = new WireBytes(header.length + Buffer.byteLength(text))
      out.set(header, 0)
      Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(text, header.length, 'utf8')
      return out
    },
    reader: () => (bytes, offset) => {
      const value: unknown = JSON.parse(bytes.toString('utf8', offset))
      check(validate, value)
      return value
    },
  }
}
