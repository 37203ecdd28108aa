/**
 * The framing bytes, built by hand from the Confluent wire format (magic byte,
 * big-endian id, zig-zag varint message indexes) and checked against what
 * @confluentinc/schemaregistry's own SchemaId writes and reads.
 */
import { SchemaId } from '@confluentinc/schemaregistry/dist/serde/serde.js'
import { describe, expect, it } from 'vitest'
import { messageIndexBytes, readMessageIndexes, readSchemaId, WireBytes, wireHeader } from '../src/index.ts'

const bytes = (b: Uint8Array) => [...b]

describe('wire format', () => {
  it('header: magic byte 0, then the schema id as a 4-byte big-endian integer', () => {
    expect(bytes(wireHeader(0x01020304))).toEqual([0x00, 0x01, 0x02, 0x03, 0x04])
    expect(bytes(wireHeader(4_000_000_000))).toEqual([0x00, 0xee, 0x6b, 0x28, 0x00])
    expect(readSchemaId(Uint8Array.of(0, 0xee, 0x6b, 0x28, 0x00, 7))).toBe(4_000_000_000)
    expect(() => wireHeader(-1)).toThrow('schema id -1 is not a 32-bit id')
  })

  it('message indexes: [0] is one 0x00 byte, others a zig-zag count then each index', () => {
    const cases: [number[], number[]][] = [
      [[0], [0x00]],
      [[1], [0x02, 0x02]],
      [
        [1, 0],
        [0x04, 0x02, 0x00],
      ],
      [
        [0, 2],
        [0x04, 0x00, 0x04],
      ],
      [[200], [0x02, 0x90, 0x03]],
    ]
    for (const [indexes, expected] of cases) {
      expect(bytes(messageIndexBytes(indexes))).toEqual(expected)
      expect(bytes(new SchemaId('PROTOBUF').writeMessageIndexes(indexes))).toEqual(expected)
      const framed = Uint8Array.of(0, 0, 0, 0, 1, ...expected, 0x0a)
      expect(readMessageIndexes(framed)).toEqual([indexes, 5 + expected.length])
    }
    expect(bytes(wireHeader(2, [1, 0]))).toEqual([0, 0, 0, 0, 2, 0x04, 0x02, 0x00])
  })

  it('a record not in the wire format is a one-line reason', () => {
    expect(() => readSchemaId(Buffer.from('{"id":1}'))).toThrow(
      'not in the Schema Registry wire format: first byte is 123, not the magic byte 0',
    )
    expect(() => readSchemaId(Uint8Array.of(0, 0, 1))).toThrow('3 bytes, fewer than 5')
    expect(() => readMessageIndexes(Uint8Array.of(0, 0, 0, 0, 1, 0x04, 0x02))).toThrow(
      'message indexes are cut short',
    )
    expect(() => readMessageIndexes(Uint8Array.of(0, 0, 0, 0, 1, 0x03))).toThrow(
      'message indexes are malformed',
    )
  })

  it('framed bytes refuse to be written as JSON (a registry codec on a topic without codec: raw)', () => {
    expect(() => JSON.stringify(new WireBytes(3))).toThrow("declare its topic with codec: 'raw'")
  })
})
