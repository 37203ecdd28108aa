/**
 * GET /tables/:table/:key: reads one key of a table from this worker's memory.
 * The URL carries the key as text; tables with non-string keys take it as JSON
 * and validate it against the table's key schema. A key owned by another
 * worker (Kafka: another member holds its partition) goes through the
 * `resolveOwner` seam and is forwarded to that worker.
 */
import {
  type AnySchema,
  schemaCodec,
  type Table,
  type WindowedTable,
  type WorkerRuntime,
} from '@stream-app/core'
import type { Context } from 'hono'

/** Base URL of the worker that owns `key` of `table`, or undefined when this worker serves it. */
export type OwnerResolver = (rt: WorkerRuntime, table: string, key: unknown) => string | undefined

/**
 * The ownership seam. On memory:// and sqlite:// every worker recovers the
 * partitions it is assigned and the rest is absent, so for now the answer is
 * always local; on Kafka this will map the key's partition to the member
 * (its advertised `url` in the group metadata) that holds it.
 */
export const resolveOwner: OwnerResolver = () => undefined

/** Set on forwarded requests so a worker never forwards twice (no loops during a rebalance). */
export const FORWARDED_HEADER = 'x-stream-app-forwarded'
const FORWARD_TIMEOUT_MS = 5_000

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

async function forward(c: Context, owner: string, table: string, rawKey: string): Promise<Response> {
  const url = `${owner.replace(/\/+$/, '')}/tables/${encodeURIComponent(table)}/${encodeURIComponent(rawKey)}`
  const res = await fetch(url, {
    headers: { [FORWARDED_HEADER]: '1', accept: c.req.header('accept') ?? 'application/json' },
    signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
  })
  return jsonResponse(res.status, await res.text())
}

/** The /tables/:table/:key handler for one worker. */
export function tableLookup(rt: WorkerRuntime, resolve: OwnerResolver) {
  const parsers = new Map<string, KeyParser>()
  return async (c: Context): Promise<Response> => {
    const name = c.req.param('table') ?? ''
    const raw = c.req.param('key') ?? ''
    const t = rt.tables.get(name)
    if (!t) return jsonError(404, `no table '${name}'`)
    let parse = parsers.get(name)
    if (!parse) parsers.set(name, (parse = keyParser(name, t.def.keySchema)))
    const k = parse(raw)
    if (!k.ok) return jsonError(400, k.error)
    if (c.req.header(FORWARDED_HEADER) === undefined) {
      const owner = resolve(rt, name, k.key)
      if (owner !== undefined) {
        try {
          return await forward(c, owner, name, raw)
        } catch (e) {
          rt.log.warn(`GET /tables/${name}: forwarding to the key's owner failed`, {
            owner,
            reason: e instanceof Error ? e.message : String(e),
          })
          return jsonError(502, `the worker that owns this key of table '${name}' did not answer`)
        }
      }
    }
    // Read per request: the ctx is built once the worker has created its tables.
    const view = (rt.baseCtx.tables as Readonly<Record<string, unknown>>)[name]
    let value: unknown
    let windows: { start: number; end: number; value: unknown }[] | undefined
    try {
      if (t.windowed) {
        const w = view as WindowedTable<unknown, unknown>
        value = w.current(k.key)
        windows = w.windows(k.key)
      } else value = (view as Table<unknown, unknown>).get(k.key)
    } catch {
      // The runtime rejects keys it cannot encode (a TypeError naming the table).
      return jsonError(400, `invalid key for table '${name}'`)
    }
    let body = `{"key":${k.keyJson},"value":${t.encodeValueText(value)}`
    if (windows)
      body += `,"windows":[${windows
        .map((w) => `{"start":${w.start},"end":${w.end},"value":${t.encodeValueText(w.value)}}`)
        .join(',')}]`
    return jsonResponse(200, `${body}}`)
  }
}
