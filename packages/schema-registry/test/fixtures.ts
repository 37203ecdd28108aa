/**
 * Schemas the tests share: an Avro record, a JSON Schema, and a .proto file
 * built as a descriptor at run time (what protoc-gen-es would generate), with a
 * second top-level message and a nested one so message indexes are not all [0].
 */
import { create, createFileRegistry, type DescMessage } from '@bufbuild/protobuf'
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt'
import { MockClient } from '@confluentinc/schemaregistry/dist/mock-schemaregistry-client.js'
import { Schema } from '@stream-app/core'
import { schemaRegistry } from '../src/index.ts'

export const orderAvro = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'qty', type: 'int' },
    { name: 'delta', type: 'long' },
    { name: 'paid', type: 'boolean' },
  ],
} as const

export const Order = Schema.Struct({
  id: Schema.String,
  qty: Schema.Number,
  delta: Schema.Number,
  paid: Schema.Boolean,
})

export const orderJsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { id: { type: 'string' }, qty: { type: 'integer', minimum: 0 } },
  required: ['id', 'qty'],
  additionalProperties: false,
} as const

const field = (name: string, number: number, type: FieldDescriptorProto_Type) => ({
  name,
  number,
  type,
  label: FieldDescriptorProto_Label.OPTIONAL,
  jsonName: name,
})

/** shop.proto: Order (index [0]), Refund ([1]) and Refund.Line ([1, 0]). */
const shopProto = create(FileDescriptorProtoSchema, {
  name: 'shop.proto',
  package: 'shop',
  syntax: 'proto3',
  messageType: [
    {
      name: 'Order',
      field: [
        field('id', 1, FieldDescriptorProto_Type.STRING),
        field('qty', 2, FieldDescriptorProto_Type.INT32),
      ],
    },
    {
      name: 'Refund',
      field: [field('order_id', 1, FieldDescriptorProto_Type.STRING)],
      nestedType: [{ name: 'Line', field: [field('sku', 1, FieldDescriptorProto_Type.STRING)] }],
    },
  ],
})
const files = createFileRegistry(shopProto, () => undefined)
const message = (name: string): DescMessage => {
  const d = files.getMessage(name)
  if (d === undefined) throw new Error(`no message ${name}`)
  return d
}
export const OrderProto = message('shop.Order')
export const RefundProto = message('shop.Refund')
export const RefundLineProto = message('shop.Refund.Line')

/** A registry on @confluentinc/schemaregistry's in-memory MockClient, fresh for each test. */
export function mockRegistry() {
  return schemaRegistry({ client: new MockClient({ baseURLs: ['mock://'] }) })
}
