/**
 * GET /topics/:topic/records?from=&limit=&partition=: what a topic holds, read
 * with the same reader as `stream-app tail` (outside the app's group, so
 * reading never moves the app). Bounded: at most MAX_LIMIT records a request.
 * Anyone who reaches the port could read every topic, so the route is on by
 * default only for a loopback bind; `web.records` turns it on or off.
 */
import { ConfigError, type RecordsFrom, type WorkerView } from '@stream-app/core'
import { messageOf, parseFrom } from '@stream-app/core/runtime'
import type { Context } from 'hono'
import { jsonHeaders } from './tables.ts'

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i

/** Whether the worker serves the records route: `web.records`, else only on a loopback address. */
export const recordsEnabled = (rt: WorkerView): boolean =>
  rt.config.web.records ?? LOOPBACK.test(rt.config.web.host)

const answer = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: jsonHeaders() })

/** A whole number from the query string, or why not. */
function wholeNumber(name: string, raw: string | undefined): number | undefined | { error: string } {
  if (raw === undefined || raw === '') return undefined
  if (!/^\d+$/.test(raw)) return { error: `${name} must be a whole number ≥ 0, got '${raw}'` }
  return Number(raw)
}

export const recordsRoute =
  (rt: WorkerView) =>
  async (c: Context): Promise<Response> => {
    if (!recordsEnabled(rt) || !rt.records)
      return answer(403, {
        error: `GET /topics/:topic/records is off on a worker bound to ${rt.config.web.host}: set web.records: true to serve it`,
      })
    const topic = c.req.param('topic') ?? ''
    const limit = wholeNumber('limit', c.req.query('limit'))
    const partition = wholeNumber('partition', c.req.query('partition'))
    if (typeof limit === 'object') return answer(400, limit)
    if (typeof partition === 'object') return answer(400, partition)
    if (limit !== undefined && limit > MAX_LIMIT)
      return answer(400, { error: `limit must be at most ${MAX_LIMIT}, got ${limit}` })
    let from: RecordsFrom
    try {
      from = parseFrom(c.req.query('from') || 'earliest')
    } catch (e) {
      return answer(400, { error: messageOf(e).replace('--from', 'from') })
    }
    try {
      const records = await rt.records({
        topic,
        from,
        limit: limit ?? DEFAULT_LIMIT,
        ...(partition !== undefined ? { partition } : {}),
      })
      return answer(200, { topic, records })
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e
      const missing = /^unknown topic|does not exist/.test(e.message)
      return answer(missing ? 404 : 400, { error: e.message })
    }
  }
