/**
 * Table keys answered by the worker that holds them. GET /tables/:table/:key
 * reads one key: the URL carries it as text; tables with non-string keys take
 * it as JSON and validate it against the table's key schema. That request,
 * and any route declared with `{ table, key }`, is forwarded whole to the
 * worker holding the key's partition (its web URL is in the group's
 * membership), so every worker answers every key.
 */
import { type AnySchema, NotOwnedError, type WorkerView } from '@stream-app/core'
import { schemaCodec } from '@stream-app/core/runtime'
import type { Context } from 'hono'
import { addForwardToken } from './access.ts'
import { BodyTooLargeError } from './body-limit.ts'
import { forwardTraced } from './http-tracing.ts'

/** Set on forwarded requests so a worker never forwards twice (no loops during a rebalance). */
export const FORWARDED_HEADER = 'x-stream-app-forwarded'
const FORWARD_TIMEOUT_MS = 5_000
/** Request headers not carried to the owner (hop-by-hop, or recomputed by fetch). */
const HOP_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'upgrade',
])

/** A fresh object per response: the node adapter adds content-length to it in place. */
export const jsonHeaders = (): Record<string, string> => ({ 'content-type': 'application/json' })

const jsonResponse = (status: number, text: string): Response =>
  new Response(text, { status, headers: jsonHeaders() })
const jsonError = (status: number, error: string): Response => jsonResponse(status, JSON.stringify({ error }))

type KeyParser = (raw: string) => { ok: true; key: unknown; keyJson: string } | { ok: false; error: string }

function keyParser(name: string, keySchema: AnySchema): KeyParser {
  const tag = keySchema.ast._tag
  if (tag === 'String') return (raw) => ({ ok: true, key: raw, keyJson: JSON.stringify(raw) })
  const decode = schemaCodec(keySchema).decode
  return (raw) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      return { ok: false, error: `table '${name}' has non-string keys: the key must be JSON` }
    }
    try {
      return { ok: true, key: decode(parsed), keyJson: JSON.stringify(parsed) }
    } catch {
      return { ok: false, error: `key does not match the key schema of table '${name}'` }
    }
  }
}

/** 503 with Retry-After: the key's holder is not known right now (a rebalance). */
export const ownerUnknown = (table: string): Response =>
  new Response(
    JSON.stringify({
      error: `the worker holding this key of table '${table}' is not known yet (rebalancing); retry`,
    }),
    { status: 503, headers: { ...jsonHeaders(), 'retry-after': '1' } },
  )

/** 421 Misdirected Request: a key read here that another worker holds. */
export const notOwnedResponse = (e: NotOwnedError): Response =>
  jsonResponse(421, JSON.stringify({ error: e.message }))

/**
 * Sends the request, as it came, to the worker at `owner`, and answers with its
 * response; `traced` (telemetry on): in a span whose trace context it carries.
 */
export async function forwardRequest(
  c: Context,
  owner: string,
  traced = false,
  /** The workers' web token, sent along so the owner lets the request in. */
  token?: string,
): Promise<Response> {
  const src = new URL(c.req.url)
  const url = `${owner.replace(/\/+$/, '')}${src.pathname}${src.search}`
  const headers = new Headers()
  c.req.raw.headers.forEach((v, k) => {
    if (!HOP_HEADERS.has(k)) headers.set(k, v)
  })
  headers.set(FORWARDED_HEADER, '1')
  addForwardToken(headers, token)
  const method = c.req.method
  const body = method === 'GET' || method === 'HEAD' ? undefined : await c.req.raw.arrayBuffer()
  const send = () =>
    fetch(url, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    })
  const res = traced ? await forwardTraced(method, url, headers, send) : await send()
  const out = new Headers()
  res.headers.forEach((v, k) => {
    if (!HOP_HEADERS.has(k) && k !== 'content-encoding') out.set(k, v)
  })
  return new Response(method === 'HEAD' ? null : await res.arrayBuffer(), {
    status: res.status,
    headers: out,
  })
}

/**
 * Runs `answer` here when this worker holds `key` of `table`, else forwards the
 * request to the worker that does (once: a forwarded request is answered where
 * it lands, which during a rebalance may be a 421 rather than a loop).
 */
export async function answerAtOwner(
  rt: WorkerView,
  c: Context,
  table: string,
  key: unknown,
  answer: () => Response | Promise<Response>,
): Promise<Response> {
  if (c.req.header(FORWARDED_HEADER) === undefined) {
    const owner = await rt.ownerOf(table, key)
    if (!owner.local) {
      if (owner.url === undefined) return ownerUnknown(table)
      try {
        return await forwardRequest(c, owner.url, rt.config.telemetry.enabled, rt.config.web.token)
      } catch (e) {
        // The client's fault, not the owner's: answered as such (413).
        if (e instanceof BodyTooLargeError) throw e
        rt.log.warn(`${c.req.method} ${c.req.path}: forwarding to the key's owner failed`, {
          owner: owner.url,
          reason: e instanceof Error ? e.message : String(e),
        })
        return jsonError(502, `the worker that holds this key of table '${table}' did not answer`)
      }
    }
  }
  try {
    return await answer()
  } catch (e) {
    if (e instanceof NotOwnedError) return notOwnedResponse(e)
    throw e
  }
}

/** The /tables/:table/:key handler for one worker. */
export function tableLookup(rt: WorkerView) {
  const parsers = new Map<string, KeyParser>()
  return async (c: Context): Promise<Response> => {
    const name = c.req.param('table') ?? ''
    const raw = c.req.param('key') ?? ''
    const t = rt.table(name)
    if (!t) return jsonError(404, `no table '${name}'`)
    let parse = parsers.get(name)
    if (!parse) parsers.set(name, (parse = keyParser(name, t.keySchema)))
    const k = parse(raw)
    if (!k.ok) return jsonError(400, k.error)
    return answerAtOwner(rt, c, name, k.key, () => {
      let value: unknown
      let windows: { start: number; end: number; value: unknown }[] | undefined
      try {
        value = t.get(k.key)
        if (t.windowed) windows = t.windows(k.key)
      } catch (e) {
        if (e instanceof NotOwnedError) throw e
        // The runtime rejects keys it cannot encode (a TypeError naming the table).
        return jsonError(400, `invalid key for table '${name}'`)
      }
      let body = `{"key":${k.keyJson},"value":${t.encodeValue(value)}`
      if (windows)
        body += `,"windows":[${windows
          .map((w) => `{"start":${w.start},"end":${w.end},"value":${t.encodeValue(w.value)}}`)
          .join(',')}]`
      return jsonResponse(200, `${body}}`)
    })
  }
}
