/**
 * Avro: the binary encoding of avsc (the library @confluentinc/schemaregistry
 * itself uses), framed as Java's KafkaAvroSerializer frames it. Values written
 * with another version of the subject are read through a resolver from that
 * writer schema to this codec's (reader) schema, built once per version.
 */
import avsc from 'avsc'
import type { Format, Reader } from './codec.ts'
import { WireBytes, wireHeader } from './wire.ts'

/** An Avro schema: its JSON text or the parsed object (`as const` objects too). */
export type AvroSchema = string | avsc.Schema | { readonly [key: string]: unknown }

/** The parsed schema; a one-line error when it is not one. */
export function avroType(schema: AvroSchema): avsc.Type {
  try {
    return avsc.Type.forSchema((typeof schema === 'string' ? JSON.parse(schema) : schema) as avsc.Schema)
  } catch (e) {
    throw new Error(`invalid Avro schema: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Why `value` is not a valid `type` value: the first offending path and its expected type. */
function whyInvalid(type: avsc.Type, value: unknown): string {
  let reason = `value does not match Avro type ${type.name ?? type.typeName}`
  type.isValid(value, {
    errorHook: (path: string[], v: unknown, t: avsc.Type) => {
      if (reason.startsWith('value does not'))
        reason = `${path.length ? path.join('.') : 'value'}: expected Avro ${t.name ?? t.typeName}, got ${JSON.stringify(v) ?? String(v)}`
    },
  })
  return reason
}

/** Reads the Avro payload at `offset` to the end of `bytes`, through `resolver` when written with another schema. */
function readAll(type: avsc.Type, resolver: avsc.Resolver | undefined): Reader {
  return (bytes, offset) => {
    const { value, offset: end } = type.decode(bytes, offset, resolver)
    if (end < 0) throw new Error('Avro payload is cut short')
    if (end !== bytes.length) throw new Error(`Avro payload has ${bytes.length - end} trailing bytes`)
    return value
  }
}

/** The Avro format for `type` writing schema id `id` under `subject`. */
export function avroFormat(subject: string, id: number, type: avsc.Type): Format {
  const header = wireHeader(id)
  let scratch = Buffer.alloc(1024)
  return {
    subject,
    id,
    write: (value) => {
      let end: number
      try {
        end = type.encode(value, scratch, header.length)
        while (end < 0) {
          // avsc returns minus the bytes missing
          scratch = Buffer.alloc(Math.max(scratch.length * 2, scratch.length - end))
          end = type.encode(value, scratch, header.length)
        }
      } catch {
        throw new Error(whyInvalid(type, value))
      }
      scratch.set(header, 0)
      const out = new WireBytes(end)
      out.set(scratch.subarray(0, end))
      return out
    },
    reader: (writer) => {
      if (writer.id === id) return readAll(type, undefined)
      if (writer.references !== undefined && writer.references.length > 0)
        throw new Error('Avro schema references are not supported')
      const writerType = avroType(writer.schema)
      return readAll(type, type.createResolver(writerType))
    },
  }
}
