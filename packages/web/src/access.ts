/**
 * Who may ask (`web.token`): with a token set, the built-in data endpoints
 * (/tables, /agents, /topics, /lag and every path under them) and requests
 * forwarded from another worker need `Authorization: Bearer <token>`; /health
 * stays open for probes, /metrics for scrapers unless `web.protectMetrics`.
 * Tokens are compared in constant time (as digests, so their lengths leak
 * nothing either).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { Logger, ResolvedConfig } from '@stream-app/core'
import type { MiddlewareHandler } from 'hono'
import { FORWARDED_HEADER, jsonHeaders } from './tables.ts'

/**
 * Carries the token on a forwarded request whose client sent an Authorization of its
 * own (an app route's scheme), which is passed on untouched.
 */
export const TOKEN_HEADER = 'x-stream-app-token'

/** Path prefixes whose every route needs the token: the data the live page shows, and below. */
export const GUARDED_PREFIXES = ['/tables', '/agents', '/topics', '/lag'] as const

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

/** True when `presented` is the token; constant time. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token))
}

const bearer = (header: string | undefined): string | undefined => {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m ? m[1] : undefined
}

/** The request carries the token: as a bearer token, or (forwarded) in TOKEN_HEADER. */
export function authorized(headers: Headers, token: string): boolean {
  const presented = bearer(headers.get('authorization') ?? undefined)
  if (presented !== undefined && tokenMatches(presented, token)) return true
  const forwarded = headers.get(TOKEN_HEADER)
  return forwarded !== null && tokenMatches(forwarded, token)
}

/** Whether a path needs the token (besides forwarded requests, which always do). */
export function guardedPath(path: string, protectMetrics: boolean): boolean {
  if (protectMetrics && (path === '/metrics' || path.startsWith('/metrics/'))) return true
  return GUARDED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))
}

const unauthorized = (): Response =>
  new Response(
    JSON.stringify({ error: 'this endpoint needs the web token: send Authorization: Bearer <token>' }),
    { status: 401, headers: { ...jsonHeaders(), 'www-authenticate': 'Bearer realm="stream-app"' } },
  )

/** The guard, or undefined when no token is set (everything open, as before). */
export function accessGuard(web: ResolvedConfig['web']): MiddlewareHandler | undefined {
  const token = web.token
  if (token === undefined) return undefined
  return async (c, next) => {
    const headers = c.req.raw.headers
    const needs = headers.has(FORWARDED_HEADER) || guardedPath(c.req.path, web.protectMetrics)
    if (needs && !authorized(headers, token)) return unauthorized()
    await next()
  }
}

/**
 * The headers a forwarded request carries the token in: as the bearer token
 * unless the client sent an Authorization of its own, which then goes on as it
 * came and the token travels in TOKEN_HEADER.
 */
export function addForwardToken(headers: Headers, token: string | undefined): void {
  if (token === undefined) return
  if (headers.has('authorization')) {
    if (!tokenMatches(bearer(headers.get('authorization') ?? undefined), token))
      headers.set(TOKEN_HEADER, token)
  } else headers.set('authorization', `Bearer ${token}`)
}

/** A bind address only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.')
  return false
}

/** Warns at start when anyone who reaches the port can read every table. */
export function warnIfExposed(web: ResolvedConfig['web'], log: Logger): void {
  if (web.token !== undefined || isLoopback(web.host)) return
  log.warn(
    `the web server binds ${web.host} without a token: anyone who reaches port ${web.port} can read every table (/tables) and the app's other data; set web.token or STREAM_APP_WEB_TOKEN`,
    { host: web.host },
  )
}
