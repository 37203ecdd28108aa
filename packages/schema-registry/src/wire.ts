/**
 * The Confluent wire format, as Java's Kafka(Avro|Protobuf|JsonSchema)Serializer
 * writes it: a 0x00 magic byte, the schema id as a 4-byte big-endian integer,
 * for Protobuf the message indexes (zig-zag varints: a count, then the path of
 * the message in its .proto file; `[0]` is the single byte 0x00), then the payload.
 * Plain synchronous code: the hot path frames and unframes with it.
 */

export const MAGIC_BYTE = 0

/**
 * Bytes in the wire format. They refuse to become JSON: a registry codec on a
 * topic whose codec is not 'raw' would otherwise be written as `{"0":0,...}`.
 */
export class WireBytes extends Uint8Array {
  toJSON(): never {
    throw new Error("a Schema Registry codec writes bytes: declare its topic with codec: 'raw'")
  }
}

function zigzagVarint(n: number, out: number[]): void {
  let m = n >= 0 ? n * 2 : -n * 2 - 1
  while (m >= 0x80) {
    out.push((m & 0x7f) | 0x80)
    m = Math.floor(m / 128)
  }
  out.push(m)
}

/** The message indexes as Confluent writes them: `[0]` as 0x00, else a count and each index. */
export function messageIndexBytes(indexes: readonly number[]): Uint8Array {
  if (indexes.length === 1 && indexes[0] === 0) return Uint8Array.of(0)
  const out: number[] = []
  zigzagVarint(indexes.length, out)
  for (const i of indexes) zigzagVarint(i, out)
  return Uint8Array.from(out)
}

/** Magic byte, schema id and (Protobuf) message indexes: the same for every record of a codec. */
export function wireHeader(id: number, indexes?: readonly number[]): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
    throw new Error(`schema id ${id} is not a 32-bit id`)
  const idx = indexes === undefined ? new Uint8Array(0) : messageIndexBytes(indexes)
  const h = new Uint8Array(5 + idx.length)
  h[0] = MAGIC_BYTE
  new DataView(h.buffer).setUint32(1, id, false)
  h.set(idx, 5)
  return h
}

/** header + payload in one new buffer. */
export function frame(header: Uint8Array, payload: Uint8Array): WireBytes {
  const out = new WireBytes(header.length + payload.length)
  out.set(header, 0)
  out.set(payload, header.length)
  return out
}

/** The schema id of a framed record; throws a one-line reason when it is not in the wire format. */
export function readSchemaId(bytes: Uint8Array): number {
  if (bytes.length < 5)
    throw new Error(`not in the Schema Registry wire format: ${bytes.length} bytes, fewer than 5`)
  if (bytes[0] !== MAGIC_BYTE)
    throw new Error(`not in the Schema Registry wire format: first byte is ${bytes[0]}, not the magic byte 0`)
  return ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0
}

/** Reads one zig-zag varint at `pos`; `[value, next position]`. */
function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let m = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new Error('message indexes are cut short')
    const b = bytes[pos++]!
    m += (b & 0x7f) * scale
    if (b < 0x80) return [m % 2 === 0 ? m / 2 : -(m + 1) / 2, pos]
    scale *= 128
  }
  throw new Error('message indexes hold a varint longer than 10 bytes')
}

/** The message indexes after the 5-byte header: `[indexes, offset of the payload]`. */
export function readMessageIndexes(bytes: Uint8Array, pos = 5): [number[], number] {
  let count: number
  ;[count, pos] = readVarint(bytes, pos)
  if (count === 0) return [[0], pos]
  if (count < 0 || count > 100) throw new Error(`message indexes are malformed (count ${count})`)
  const indexes: number[] = []
  for (let i = 0; i < count; i++) {
    let idx: number
    ;[idx, pos] = readVarint(bytes, pos)
    if (idx < 0) throw new Error(`message indexes are malformed (index ${idx})`)
    indexes.push(idx)
  }
  return [indexes, pos]
}
