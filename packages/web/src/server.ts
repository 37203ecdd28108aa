/**
 * Serves a worker's hono app on a Node HTTP server: binds where the config
 * says (127.0.0.1 unless told otherwise; port 0 picks a free one), bounds how
 * long a client may take to send headers and a request so slow or stuck
 * clients cannot pile up, answers unparseable requests with JSON, and closes
 * promptly (idle keep-alive connections at once, busy ones after a short grace).
 */
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { hostname } from 'node:os'
import { getRequestListener, RequestError } from '@hono/node-server'
import { ConfigError, type Logger, type WebServerHandle, type WorkerView } from '@stream-app/core'
import { warnIfExposed } from './access.ts'
import { createWebApp } from './app.ts'
import { limitBody } from './body-limit.ts'
import { WorkerMetrics } from './metrics.ts'
import { jsonHeaders } from './tables.ts'

export interface ServerTimeouts {
  /** Time a client has to send the request headers. */
  readonly headersMs: number
  /** Time a client has to send the whole request. */
  readonly requestMs: number
  /** Time an idle keep-alive connection stays open. */
  readonly keepAliveMs: number
  /** On close: time in-flight requests get before their connections are cut. */
  readonly closeGraceMs: number
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
  closeGraceMs: 2_000,
}

export interface WebServerOptions {
  /** Where route failures are logged; default: the worker's log. */
  readonly log?: Logger
  readonly timeouts?: Partial<ServerTimeouts>
}

/** True when the path or query holds a malformed percent-escape (hono would pass it on undecoded). */
function badEncoding(url: string): boolean {
  if (!url.includes('%')) return false
  try {
    decodeURIComponent(url.slice(url.indexOf('/', url.indexOf('//') + 2)))
    return false
  } catch {
    return true
  }
}

/**
 * The host of the URL this worker advertises (to other workers, for table
 * queries): a wildcard bind is reached through the machine's hostname.
 */
export const hostForUrl = (host: string): string => {
  if (host === '0.0.0.0' || host === '::') return hostname()
  return host.includes(':') ? `[${host}]` : host
}

/** Answers requests Node's parser rejects (or that time out) with JSON, then drops the connection. */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy()
    return
  }
  const [status, reason] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : [400, 'Bad Request']
  const body = JSON.stringify({ error: reason.toLowerCase() })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  )
  // A peer that never closes its side must not hold the socket.
  setTimeout(() => socket.destroy(), 1_000).unref()
}

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly timeouts: ServerTimeouts
  readonly log: Logger
}

/**
 * Serves a fetch handler on a Node HTTP server with this package's limits and
 * shutdown. startWebServer uses it; the benchmark serves its baseline with it.
 */
export async function serveFetch(
  fetchHandler: (req: Request) => Response | Promise<Response>,
  options: ServeOptions,
): Promise<WebServerHandle & { readonly port: number }> {
  const { host, port, timeouts, log } = options
  const listener = getRequestListener(fetchHandler, {
    errorHandler: (e) => {
      if (e instanceof RequestError)
        return new Response('{"error":"bad request"}', { status: 400, headers: jsonHeaders() })
      log.error(`web request failed: ${e instanceof Error ? e.message : String(e)}`)
      return new Response('{"error":"internal error"}', { status: 500, headers: jsonHeaders() })
    },
  })
  const server: Server = createServer(
    {
      headersTimeout: Math.min(timeouts.headersMs, timeouts.requestMs),
      requestTimeout: timeouts.requestMs,
      // Check the two timeouts above often, so they hold close to their value.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, timeouts.headersMs / 2)),
    },
    listener,
  )
  server.keepAliveTimeout = timeouts.keepAliveMs
  server.on('clientError', onClientError)

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      server.off('listening', onListening)
      reject(new ConfigError(`web server cannot listen on ${host}:${port}: ${e.message}`, { cause: e }))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ port, host })
  })
  const address = server.address()
  const bound = typeof address === 'object' && address ? address.port : port
  server.on('error', (e) => log.error(`web server error: ${e.message}`))

  let closing: Promise<void> | undefined
  return {
    url: `http://${hostForUrl(host)}:${bound}`,
    port: bound,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.closeAllConnections(), timeouts.closeGraceMs)
        // A keep-alive connection whose last request just finished is idle: close it then, not at the cut.
        const sweep = setInterval(() => server.closeIdleConnections(), 20)
        server.close(() => {
          clearTimeout(cut)
          clearInterval(sweep)
          resolve()
        })
        server.closeIdleConnections()
      })),
  }
}

/**
 * Starts the web server of a worker (the `web` dependency of WorkerDeps).
 *
 * @example
 * const rt = await startRuntime(def, { ...deps, web: (view) => startWebServer(view) })
 * await fetch(`${rt.url}/health`) // {"status":"ok"}
 */
export async function startWebServer(
  rt: WorkerView,
  options: WebServerOptions = {},
): Promise<WebServerHandle> {
  const log = options.log ?? rt.log
  const metrics = new WorkerMetrics(rt, log)
  const app = createWebApp(rt, { log, metrics })
  let http: WebServerHandle
  try {
    const limit = rt.config.web.bodyLimit
    http = await serveFetch(
      (req) => {
        if (badEncoding(req.url))
          return new Response('{"error":"malformed percent-encoding in URL"}', {
            status: 400,
            headers: jsonHeaders(),
          })
        const bounded = limitBody(req, limit)
        return bounded instanceof Response ? bounded : app.fetch(bounded)
      },
      {
        host: rt.config.web.host,
        port: rt.config.web.port,
        timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
        log,
      },
    )
  } catch (e) {
    metrics.close()
    throw e
  }
  warnIfExposed(rt.config.web, log)
  return {
    url: http.url,
    close: () => {
      metrics.close()
      return http.close()
    },
  }
}
