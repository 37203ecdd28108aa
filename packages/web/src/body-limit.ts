/**
 * The request body limit (`web.bodyLimit`). A declared Content-Length above it
 * is answered 413 before a byte of the body is read; a body without one
 * (chunked) is counted as it streams, and reading it fails with
 * BodyTooLargeError as soon as it passes the limit, so no route, JSON parse
 * or forward ever holds more than the limit in memory.
 */
import { formatBytes } from '@stream-app/core/runtime'
import { jsonHeaders } from './tables.ts'

/** Reading a request body went past `web.bodyLimit`: answered 413. */
export class BodyTooLargeError extends Error {
  readonly _tag = 'BodyTooLargeError'
  override name = 'BodyTooLargeError'
  constructor(readonly limit: number) {
    super(`request body larger than the limit of ${formatBytes(limit)} (web.bodyLimit: ${limit} bytes)`)
  }
}

/** The 413 answer; the connection is closed, so the client stops sending the rest. */
export const tooLarge = (limit: number): Response =>
  new Response(JSON.stringify({ error: new BodyTooLargeError(limit).message, limit }), {
    status: 413,
    headers: { ...jsonHeaders(), connection: 'close' },
  })

/**
 * The request to hand on, bounded by `limit`: a 413 when its Content-Length says it
 * is too large, else the request itself (its body counted while read when it has
 * no length).
 */
export function limitBody(req: Request, limit: number): Request | Response {
  const body = req.body
  if (body === null) return req
  const declared = req.headers.get('content-length')
  if (declared !== null && !req.headers.has('transfer-encoding')) {
    const n = Number(declared)
    return Number.isFinite(n) && n > limit ? tooLarge(limit) : req
  }
  let seen = 0
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength
        if (seen > limit) controller.error(new BodyTooLargeError(limit))
        else controller.enqueue(chunk)
      },
    }),
  )
  return new Request(req, { body: counted, duplex: 'half' } as RequestInit)
}
