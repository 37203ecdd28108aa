/**
 * The web server's request limits and access settings, checked where the
 * config is made (createApp) and resolved where the worker starts: a body
 * limit written as bytes or '1mb', and the bearer token that guards the data
 * endpoints, taken from the environment first (a deployment's secret should not
 * have to live in code).
 */
import type { WebConfig } from './definition.ts'
import { ConfigError } from './errors.ts'

/** 1 MiB: larger than any JSON a route of a stream app should take, small enough to refuse abuse. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

/** The environment variable holding the web token; it wins over `web.token` in code. */
export const WEB_TOKEN_ENV = 'STREAM_APP_WEB_TOKEN'

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/** Bytes from a number or a string such as '512kb', '1mb', '1.5 MB' (units of 1024). */
export function parseByteSize(value: unknown, name: string): number {
  const bad = () =>
    new ConfigError(
      `${name} must be a whole number of bytes or a size such as '512kb' or '1mb', got ${JSON.stringify(value)}`,
    )
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value <= 0) throw bad()
    return value
  }
  if (typeof value !== 'string') throw bad()
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value)
  if (!m) throw bad()
  const bytes = Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!)
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw bad()
  return bytes
}

/** A size for people: 1048576 → '1 MiB', 1536 → '1.5 KiB'. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const)
    if (n >= size) return `${Number((n / size).toFixed(2))} ${unit}`
  return `${n} bytes`
}

function checkToken(token: unknown, where: string): void {
  if (typeof token !== 'string' || token.length === 0 || /\s/.test(token))
    throw new ConfigError(`${where} must be a non-empty string without spaces`)
}

/** Checks the web options createApp does not otherwise look at; throws ConfigError naming the option. */
export function checkWebConfig(web: WebConfig | undefined): void {
  if (web === undefined) return
  if (web === null || typeof web !== 'object') throw new ConfigError('web must be an object')
  if (web.bodyLimit !== undefined) parseByteSize(web.bodyLimit, 'web.bodyLimit')
  if (web.token !== undefined) checkToken(web.token, 'web.token')
  if (web.protectMetrics !== undefined && typeof web.protectMetrics !== 'boolean')
    throw new ConfigError(`web.protectMetrics must be a boolean, got ${JSON.stringify(web.protectMetrics)}`)
}

/**
 * The token in force: an override given to start(), then the environment, then the
 * app's config (as for the broker: a deployment's setting wins over code).
 */
export function resolveWebToken(
  config: WebConfig | undefined,
  override: WebConfig | undefined,
): string | undefined {
  const env = process.env[WEB_TOKEN_ENV]
  const token = override?.token ?? (env || undefined) ?? config?.token
  if (token !== undefined)
    checkToken(token, override?.token !== undefined || !env ? 'web.token' : WEB_TOKEN_ENV)
  return token
}
