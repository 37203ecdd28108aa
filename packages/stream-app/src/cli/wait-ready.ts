/**
 * `stream-app wait-ready <app> [--url <base>] [--timeout 120s]`: for rolling
 * deploy scripts, which must not move on to the next worker before this one
 * runs and its group has settled. Polls GET /health until it is 200 with the
 * group stable, saying on stderr what the worker is doing whenever that
 * changes; on timeout, one line with the last state and exit code 1.
 */
import { type AppDefinition, ConfigError } from '@stream-app/core'
import { asFailure, messageOf, resolveConfig, toMillis } from '@stream-app/core/runtime'
import * as Clock from 'effect/Clock'
import * as Effect from 'effect/Effect'
import type { Io } from './commands.ts'

const POLL_MS = 500
/** A line is repeated this often while nothing changes, so a long recovery still shows progress. */
const REPEAT_MS = 10_000
const REQUEST_TIMEOUT_MS = 5_000

type Args = Readonly<Record<string, unknown>>

/** The base URL to poll: --url, else the app's web config (with --web-host/--web-port as for `run`). */
export function healthBase(def: AppDefinition, a: Args): string {
  if (a.url !== undefined) {
    const text = String(a.url)
    let u: URL
    try {
      u = new URL(text)
    } catch {
      throw new ConfigError(`--url: not a URL: ${JSON.stringify(text)} (expected e.g. http://127.0.0.1:6066)`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ConfigError(`--url: expected an http:// or https:// URL, got ${JSON.stringify(text)}`)
    return text.replace(/\/+$/, '')
  }
  const web = resolveConfig(def.config, {
    web: {
      ...(a['web-port'] !== undefined ? { port: a['web-port'] as number } : {}),
      ...(a['web-host'] !== undefined ? { host: a['web-host'] as string } : {}),
    },
  }).web
  if (!web.enabled)
    throw new ConfigError(`app '${def.config.id}' has its web server off: give the URL of one with --url`)
  if (web.port === 0)
    throw new ConfigError(
      `app '${def.config.id}' picks a free web port at start (web.port 0): give the worker's URL with --url`,
    )
  // A worker listening on every address is reached on loopback from here.
  const host = web.host === '0.0.0.0' ? '127.0.0.1' : web.host === '::' ? '[::1]' : web.host
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${web.port}`
}

interface Health {
  readonly status?: string
  readonly reason?: string
  readonly group?: string
  readonly recovery?: {
    table?: string
    phase?: string
    storeRows?: number
    changelog?: { done: number; of: number }
  }
}

/** One poll: ready, or what the worker says (or why it could not be asked), in one line. */
async function probe(url: string): Promise<{ ready: true; body: string } | { ready: false; line: string }> {
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code
    return { ready: false, line: `not answering (${cause ?? messageOf(e)})` }
  }
  const text = await res.text().catch(() => '')
  let h: Health
  try {
    h = JSON.parse(text) as Health
  } catch {
    return { ready: false, line: `${res.status}, not a stream-app /health answer` }
  }
  if (res.status === 200 && h.group === 'stable') return { ready: true, body: text }
  const r = h.recovery
  const progress = r
    ? r.phase === 'changelog' && r.changelog
      ? ` (changelog ${r.changelog.done}/${r.changelog.of})`
      : ` (${r.storeRows ?? 0} rows loaded)`
    : ''
  return {
    ready: false,
    line: `${res.status} ${h.status ?? '?'}, group ${h.group ?? '?'}${h.reason ? `: ${h.reason}` : ''}${progress}`,
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/**
 * Polls until ready (0) or the timeout (fails, with the last state). Ready: the /health JSON on
 * stdout. The pauses and the deadline are Effect's clock, in the CLI's one program.
 */
export const waitReady = (def: AppDefinition, a: Args, io: Io): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    const timeout = String(a.timeout ?? '120s')
    // A bare number would be milliseconds as a Duration: almost surely not what a script meant.
    if (/^\s*\d+(\.\d+)?\s*$/.test(timeout))
      return yield* Effect.fail(
        new ConfigError(`--timeout: give a unit, e.g. ${timeout.trim()}s (got ${JSON.stringify(timeout)})`),
      )
    const timeoutMs = yield* Effect.try({ try: () => toMillis(timeout, '--timeout'), catch: asFailure })
    const base = yield* Effect.try({ try: () => healthBase(def, a), catch: asFailure })
    const url = `${base}/health`
    const started = yield* Clock.currentTimeMillis
    let shown: string | undefined
    let shownAt = 0
    let last = 'no answer yet'
    for (;;) {
      const p = yield* Effect.promise(() => probe(url))
      const elapsed = (yield* Clock.currentTimeMillis) - started
      if (p.ready) {
        io.err(`stream-app wait-ready: ${base} is ready, group stable (after ${secs(elapsed)})`)
        io.out(p.body)
        return 0
      }
      last = p.line
      // The line without its numbers says whether anything changed; progress alone repeats slowly.
      const gist = p.line.replace(/\d+/g, '#')
      if (gist !== shown || elapsed - shownAt >= REPEAT_MS) {
        io.err(`stream-app wait-ready: ${base}: ${p.line} [${secs(elapsed)}]`)
        shown = gist
        shownAt = elapsed
      }
      if (elapsed >= timeoutMs)
        return yield* Effect.fail(
          new Error(`wait-ready: ${base} not ready after ${secs(timeoutMs)}; last: ${last}`),
        )
      yield* Effect.sleep(Math.min(POLL_MS, Math.max(0, timeoutMs - elapsed)))
    }
  })
