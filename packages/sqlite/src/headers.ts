/**
 * A compact binary encoding of record headers for the `headers` BLOB column:
 * u16 count, then per header u16 name length, name (UTF-8), u32 value length,
 * value. No headers → NULL, so the common case costs nothing.
 */
import type { Headers } from '@stream-app/core'
import { NO_HEADERS } from '@stream-app/core/runtime'

export function encodeHeaders(headers: Headers | undefined): Buffer | null {
  if (headers === undefined) return null
  const names = Object.keys(headers)
  if (names.length === 0) return null
  const nameBufs = names.map((n) => Buffer.from(n, 'utf8'))
  let size = 2
  for (let i = 0; i < names.length; i++) size += 2 + nameBufs[i]!.length + 4 + headers[names[i]!]!.byteLength
  const out = Buffer.allocUnsafe(size)
  let at = out.writeUInt16BE(names.length, 0)
  for (let i = 0; i < names.length; i++) {
    const name = nameBufs[i]!
    const value = headers[names[i]!]!
    at = out.writeUInt16BE(name.length, at)
    at += name.copy(out, at)
    at = out.writeUInt32BE(value.byteLength, at)
    out.set(value, at)
    at += value.byteLength
  }
  return out
}

export function decodeHeaders(buf: Buffer | null): Headers {
  if (buf === null || buf.length < 2) return NO_HEADERS
  const out: Record<string, Uint8Array> = {}
  const count = buf.readUInt16BE(0)
  let at = 2
  for (let i = 0; i < count; i++) {
    const nameLen = buf.readUInt16BE(at)
    at += 2
    const name = buf.toString('utf8', at, at + nameLen)
    at += nameLen
    const valueLen = buf.readUInt32BE(at)
    at += 4
    out[name] = buf.subarray(at, at + valueLen)
    at += valueLen
  }
  return out
}
