/**
 * What the three formats share: a codec is resolved once, asynchronously (the
 * schema id to write, the schema of every version of its subject to read), and
 * then turns values into framed bytes and back with plain synchronous code,
 * as an Effect Schema from Uint8Array that a topic takes as its value schema
 * (with codec: 'raw'). Records never wait on the registry: an id that was not
 * loaded is a one-line decode failure, handled by the topic's onInvalid.
 */

import type { Client, SchemaMetadata } from '@confluentinc/schemaregistry/dist/schemaregistry-client.js'
import type { AnySchema } from '@stream-app/core'
import * as Exit from 'effect/Exit'
import * as Schema from 'effect/Schema'
import * as SchemaIssue from 'effect/SchemaIssue'
import * as SchemaTransformation from 'effect/SchemaTransformation'
import { readSchemaId, type WireBytes } from './wire.ts'

/** Reads the payload of one framed record (after its 5-byte header); throws a one-line reason. */
export type Reader = (bytes: Buffer, offset: number) => unknown

/** One format resolved against the registry: how to write, and how to read each version of the subject. */
export interface Format {
  readonly subject: string
  /** The id written in front of every encoded value. */
  readonly id: number
  /** value (already encoded by the value schema) → framed bytes; throws a one-line reason. */
  readonly write: (value: unknown) => WireBytes
  /** A reader for a registered schema; throws when that version cannot be read as this codec's type. */
  readonly reader: (writer: SchemaMetadata) => Reader
}

/** A Schema Registry codec, resolved: put `schema` on a topic as its value, with codec: 'raw'. */
export interface SchemaRegistryCodec<T> {
  /** The topic's value schema: Confluent wire-format bytes ⇄ T. */
  readonly schema: Schema.Codec<T, Uint8Array, never, never>
  readonly subject: string
  /** The schema id this codec writes. */
  readonly id: number
  /** The ids this codec reads (every version of its subject when it was resolved or last refreshed). */
  readonly readableIds: () => readonly number[]
  /** Loads the versions registered since (a producer that evolved the schema); records already read stay as they were. */
  readonly refresh: () => Promise<void>
}

const toBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

const oneLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim()

/** Every version registered under `subject` (none if the subject does not exist). */
export async function subjectVersions(client: Client, subject: string): Promise<SchemaMetadata[]> {
  let versions: number[]
  try {
    versions = await client.getAllVersions(subject)
  } catch (e) {
    if ((e as { status?: number }).status === 404) return []
    throw e
  }
  return Promise.all(versions.map((v) => client.getSchemaMetadata(subject, v, false)))
}

/** A reader per id; a version that cannot be read becomes a reader that says why. */
async function loadReaders(client: Client, format: Format): Promise<Map<number, Reader>> {
  const readers = new Map<number, Reader>()
  for (const meta of await subjectVersions(client, format.subject)) {
    if (meta.id === undefined || readers.has(meta.id)) continue
    const id = meta.id
    try {
      readers.set(id, format.reader(meta))
    } catch (e) {
      const reason = `schema id ${id} (version ${meta.version} of '${format.subject}') cannot be read: ${oneLine(e)}`
      readers.set(id, () => {
        throw new Error(reason)
      })
    }
  }
  if (!readers.has(format.id))
    throw new Error(`schema id ${format.id} is not a version of subject '${format.subject}'`)
  return readers
}

const invalid = (input: unknown, e: unknown) =>
  Exit.fail(new SchemaIssue.InvalidValue({ message: oneLine(e) }, input))

/**
 * Builds the codec of a resolved format: Uint8Array ⇄ (the value schema's
 * encoded form) through the format, then the value schema. One Exit per record,
 * as any schema transformation makes; no Promise, no registry call.
 */
export async function makeRegistryCodec<T>(
  client: Client,
  format: Format,
  value: AnySchema | undefined,
): Promise<SchemaRegistryCodec<T>> {
  let readers = await loadReaders(client, format)
  const subject = format.subject
  const decode = (bytes: Uint8Array) => {
    try {
      const id = readSchemaId(bytes)
      const read = readers.get(id)
      if (read === undefined)
        throw new Error(
          `unknown schema id ${id}: not a version of subject '${subject}' loaded by this worker (readable: ${[...readers.keys()].join(', ')})`,
        )
      return Exit.succeed(read(toBuffer(bytes), 5))
    } catch (e) {
      return invalid(bytes, e)
    }
  }
  const encode = (v: unknown) => {
    try {
      return Exit.succeed(format.write(v) as Uint8Array)
    } catch (e) {
      return invalid(v, e)
    }
  }
  const schema = Schema.Uint8Array.pipe(
    Schema.decodeTo(
      value ?? Schema.Unknown,
      SchemaTransformation.transformEffect<unknown, Uint8Array>({ decode, encode }),
    ),
  ) as unknown as Schema.Codec<T, Uint8Array, never, never>
  return {
    schema,
    subject,
    id: format.id,
    readableIds: () => [...readers.keys()],
    refresh: async () => {
      readers = await loadReaders(client, format)
    },
  }
}
