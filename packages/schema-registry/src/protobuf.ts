/**
 * Protobuf: messages of a protobuf-es (v2) message descriptor — generated code
 * or a registry built at run time — framed as Java's KafkaProtobufSerializer
 * frames them: the message indexes that name the message in its .proto file
 * follow the schema id. The schema and its imports are registered as
 * @confluentinc/schemaregistry's ProtobufSerializer registers them.
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf'
import type { Format } from './codec.ts'
import { frame, readMessageIndexes, wireHeader } from './wire.ts'

const sameIndexes = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/** The Protobuf format for `desc`, writing schema id `id` with message indexes `indexes`. */
export function protobufFormat<D extends DescMessage>(
  subject: string,
  id: number,
  desc: D,
  indexes: readonly number[],
): Format {
  const header = wireHeader(id, indexes)
  const typeName = desc.typeName
  return {
    subject,
    id,
    write: (value) => {
      const got = (value as { $typeName?: unknown } | null)?.$typeName
      if (got !== typeName)
        throw new Error(
          `expected a ${typeName} message (made with create()), got ${got === undefined ? typeof value : String(got)}`,
        )
      return frame(header, toBinary(desc, value as MessageShape<D>))
    },
    // Any version of the subject: the fields are read by number, as the Java deserializer with a specific type does.
    reader: () => (bytes, offset) => {
      const [found, start] = readMessageIndexes(bytes, offset)
      if (!sameIndexes(found, indexes))
        throw new Error(
          `message indexes [${found.join(', ')}] do not name ${typeName} ([${indexes.join(', ')}])`,
        )
      return fromBinary(desc, bytes.subarray(start))
    },
  }
}
