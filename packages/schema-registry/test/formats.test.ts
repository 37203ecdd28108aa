/**
 * Avro, Protobuf and JSON Schema codecs on @confluentinc/schemaregistry's
 * MockClient (no registry server runs here): the bytes of a known value,
 * written out by hand from each format's spec, and the same bytes from
 * Confluent's own (async) serializers, which read ours back — the format the
 * Java clients share. Also schema evolution, refresh, and one-line errors.
 */
import { create } from '@bufbuild/protobuf'
import { AvroDeserializer, AvroSerializer } from '@confluentinc/schemaregistry/dist/serde/avro.js'
import { JsonDeserializer, JsonSerializer } from '@confluentinc/schemaregistry/dist/serde/json.js'
import { ProtobufDeserializer, ProtobufSerializer } from '@confluentinc/schemaregistry/dist/serde/protobuf.js'
import { SerdeType } from '@confluentinc/schemaregistry/dist/serde/serde.js'
import { Schema } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { mockRegistry, Order, OrderProto, orderAvro, orderJsonSchema, RefundLineProto } from './fixtures.ts'

const bytes = (b: Uint8Array) => [...b]
const idBytes = (id: number) => [0x00, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]
const ascii = (s: string) => [...Buffer.from(s, 'utf8')]
const errorOf = (f: () => unknown): string => {
  try {
    f()
  } catch (e) {
    return (e as Error).message
  }
  throw new Error('did not throw')
}

describe('avro', () => {
  const order = { id: 'ab', qty: 3, delta: -2, paid: true }
  // string "ab": zig-zag length 2 = 0x04, 'a' 'b'; int 3 = zig-zag 6; long -2 = zig-zag 3; true = 1
  const payload = [0x04, 0x61, 0x62, 0x06, 0x03, 0x01]

  it('writes magic byte, id and the Avro binary encoding, as Confluent serializers do', async () => {
    const r = mockRegistry()
    await r.client.register('other-value', { schemaType: 'AVRO', schema: '"string"' }, false)
    const codec = await r.avro({ subject: 'orders-value', schema: orderAvro, value: Order })
    expect(codec.id).toBe(2)
    const ours = Schema.encodeSync(codec.schema)(order)
    expect(bytes(ours)).toEqual([...idBytes(2), ...payload])

    const theirs = await new AvroSerializer(r.client, SerdeType.VALUE, { useLatestVersion: true }).serialize(
      'orders',
      order,
    )
    expect(bytes(theirs)).toEqual(bytes(ours))
    const read = await new AvroDeserializer(r.client, SerdeType.VALUE, {}).deserialize(
      'orders',
      Buffer.from(ours),
    )
    expect({ ...read }).toEqual(order)
    expect(Schema.decodeSync(codec.schema)(theirs)).toEqual(order)
  })

  it('reads records written with an older version of the subject through a resolver', async () => {
    const r = mockRegistry()
    const v1 = { ...orderAvro, fields: orderAvro.fields.slice(0, 2) }
    const v1Id = await r.client.register(
      'orders-value',
      { schemaType: 'AVRO', schema: JSON.stringify(v1) },
      false,
    )
    const v2 = {
      ...orderAvro,
      fields: [...orderAvro.fields.slice(0, 3), { name: 'paid', type: 'boolean', default: false }],
    }
    const v2Plain = { ...v2, fields: v2.fields.map((f) => (f.name === 'delta' ? { ...f, default: 0 } : f)) }
    const codec = await r.avro({ subject: 'orders-value', schema: v2Plain, value: Order })
    expect(codec.readableIds()).toEqual([v1Id, codec.id])
    const fromV1 = Uint8Array.of(...idBytes(v1Id), 0x04, 0x61, 0x62, 0x06)
    expect(Schema.decodeSync(codec.schema)(fromV1)).toEqual({ id: 'ab', qty: 3, delta: 0, paid: false })
  })

  it('an id registered after start is unknown until refresh(); an incompatible version says why', async () => {
    const r = mockRegistry()
    const codec = await r.avro({ subject: 'orders-value', schema: orderAvro, value: Order })
    const later = await r.client.register(
      'orders-value',
      {
        schemaType: 'AVRO',
        schema: JSON.stringify({
          ...orderAvro,
          fields: [...orderAvro.fields, { name: 'note', type: 'string', default: '' }],
        }),
      },
      false,
    )
    const incompatible = await r.client.register(
      'orders-value',
      {
        schemaType: 'AVRO',
        schema: JSON.stringify({
          type: 'record',
          name: 'Order',
          namespace: 'shop',
          fields: [{ name: 'id', type: 'int' }],
        }),
      },
      false,
    )
    const rec = Uint8Array.of(...idBytes(later), ...payload, 0x00)
    expect(errorOf(() => Schema.decodeSync(codec.schema)(rec))).toBe(
      `unknown schema id ${later}: not a version of subject 'orders-value' loaded by this worker (readable: ${codec.id})`,
    )
    await codec.refresh()
    expect(Schema.decodeSync(codec.schema)(rec)).toEqual(order)
    expect(
      errorOf(() => Schema.decodeSync(codec.schema)(Uint8Array.of(...idBytes(incompatible), 0x02))),
    ).toMatch(
      new RegExp(`^schema id ${incompatible} \\(version 3 of 'orders-value'\\) cannot be read: [^\\n]+$`),
    )
  })

  it('bad values and bad payloads are one-line errors', async () => {
    const codec = await mockRegistry().avro({ subject: 'orders-value', schema: orderAvro })
    expect(errorOf(() => Schema.encodeSync(codec.schema)({ ...order, qty: 3.5 }))).toBe(
      'qty: expected Avro int, got 3.5',
    )
    expect(
      errorOf(() => Schema.decodeSync(codec.schema)(Uint8Array.of(...idBytes(codec.id), ...payload, 9))),
    ).toBe('Avro payload has 1 trailing bytes')
    expect(
      errorOf(() => Schema.decodeSync(codec.schema)(Uint8Array.of(...idBytes(codec.id), 0x04, 0x61))),
    ).toBe('Avro payload is cut short')
  })
})

describe('protobuf', () => {
  it('writes id, message indexes and the protobuf encoding, as Confluent serializers do', async () => {
    const r = mockRegistry()
    const codec = await r.protobuf({ subject: 'orders-value', message: OrderProto })
    const msg = create(OrderProto, { id: 'ab', qty: 3 } as never)
    const ours = Schema.encodeSync(codec.schema)(msg)
    // index [0] is 0x00; field 1 (string, tag 0x0a) "ab", field 2 (varint, tag 0x10) 3
    expect(bytes(ours)).toEqual([...idBytes(codec.id), 0x00, 0x0a, 0x02, 0x61, 0x62, 0x10, 0x03])

    const serializer = new ProtobufSerializer(r.client, SerdeType.VALUE, { useLatestVersion: true })
    serializer.registry.add(OrderProto)
    expect(bytes(await serializer.serialize('orders', msg))).toEqual(bytes(ours))
    const read = await new ProtobufDeserializer(r.client, SerdeType.VALUE, {}).deserialize(
      'orders',
      Buffer.from(ours),
    )
    expect(read).toMatchObject({ id: 'ab', qty: 3 })
    expect(Schema.decodeSync(codec.schema)(ours)).toEqual(msg)
  })

  it('a nested message carries its path [1, 0]; indexes naming another message are refused', async () => {
    const r = mockRegistry()
    const codec = await r.protobuf({ subject: 'lines-value', message: RefundLineProto })
    const line = create(RefundLineProto, { sku: 'x' } as never)
    const ours = Schema.encodeSync(codec.schema)(line)
    expect(bytes(ours)).toEqual([...idBytes(codec.id), 0x04, 0x02, 0x00, 0x0a, 0x01, 0x78])
    const serializer = new ProtobufSerializer(r.client, SerdeType.VALUE, { useLatestVersion: true })
    serializer.registry.add(RefundLineProto)
    expect(bytes(await serializer.serialize('lines', line))).toEqual(bytes(ours))

    const asOrder = Uint8Array.of(...idBytes(codec.id), 0x00, 0x0a, 0x01, 0x78)
    expect(errorOf(() => Schema.decodeSync(codec.schema)(asOrder))).toBe(
      'message indexes [0] do not name shop.Refund.Line ([1, 0])',
    )
    expect(errorOf(() => Schema.encodeSync(codec.schema)({ sku: 'x' } as never))).toBe(
      'expected a shop.Refund.Line message (made with create()), got object',
    )
  })
})

describe('json schema', () => {
  it('writes id and UTF-8 JSON, as Confluent serializers do; values are checked against the schema', async () => {
    const r = mockRegistry()
    const codec = await r.jsonSchema({ subject: 'orders-value', schema: orderJsonSchema })
    const value = { id: 'ä', qty: 2 }
    const ours = Schema.encodeSync(codec.schema)(value)
    expect(bytes(ours)).toEqual([...idBytes(codec.id), ...ascii('{"id":"ä","qty":2}')])

    const theirs = await new JsonSerializer(r.client, SerdeType.VALUE, { useLatestVersion: true }).serialize(
      'orders',
      value,
    )
    expect(bytes(theirs)).toEqual(bytes(ours))
    const read = await new JsonDeserializer(r.client, SerdeType.VALUE, {}).deserialize(
      'orders',
      Buffer.from(ours),
    )
    expect(read).toEqual(value)
    expect(Schema.decodeSync(codec.schema)(ours)).toEqual(value)

    expect(errorOf(() => Schema.encodeSync(codec.schema)({ id: 'a', qty: -1 }))).toBe(
      'JSON Schema: /qty must be >= 0',
    )
    const invalid = Uint8Array.of(...idBytes(codec.id), ...ascii('{"id":"a"}'))
    expect(errorOf(() => Schema.decodeSync(codec.schema)(invalid))).toBe(
      "JSON Schema: value must have required property 'qty'",
    )
    const unchecked = await r.jsonSchema({
      subject: 'orders-value',
      schema: orderJsonSchema,
      validate: false,
    })
    expect(Schema.decodeSync(unchecked.schema)(invalid)).toEqual({ id: 'a' })
  })

  it('autoRegister: false looks the schema up and fails in one line when it is not registered', async () => {
    const r = mockRegistry()
    await expect(
      r.jsonSchema({ subject: 'orders-value', schema: orderJsonSchema, autoRegister: false }),
    ).rejects.toThrow(
      "schema registry: cannot look up the schema of subject 'orders-value': Schema not found",
    )
  })
})
