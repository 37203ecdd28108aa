/**
 * @stream-app/schema-registry: Avro, Protobuf and JSON Schema codecs for
 * topics, in the Confluent wire format and against a Confluent Schema
 * Registry, so an app reads and writes the same bytes as Java clients. Kept
 * out of core and of the `stream-app` package: only apps that use it install
 * @confluentinc/schemaregistry.
 */
export type { AvroSchema } from './avro.ts'
export type { SchemaRegistryCodec } from './codec.ts'
export type { JsonSchemaDocument } from './json-schema.ts'
export {
  type AvroOptions,
  type JsonSchemaOptions,
  type ProtobufOptions,
  type RegistryOptions,
  type SchemaRegistry,
  type SubjectOptions,
  schemaRegistry,
} from './registry.ts'
export { messageIndexBytes, readMessageIndexes, readSchemaId, WireBytes, wireHeader } from './wire.ts'
