/**
 * The hono app of one worker: CORS (when configured), the built-in routes
 * (/health, /metrics, /tables/:table/:key, /topics/:topic/records), the app's own `.route()`s, then
 * the live page on / and its data (/agents, /topics, /tables, /lag) where the
 * app does not answer those paths itself, the token guard of the data
 * endpoints (web.token), and one error policy for all of them: 4xx for what
 * the client got wrong (413 past the body limit, 400 for a value a topic's
 * schema refuses), a
 * bare JSON 500 for what the server got wrong (details go to the log, never to
 * the client).
 */
import { EncodeError, type Logger, NotOwnedError, type WorkerView } from '@stream-app/core'
import { type Context, type Handler, Hono } from 'hono'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import { accessGuard } from './access.ts'
import { BodyTooLargeError, tooLarge } from './body-limit.ts'
import { listAgents, listTables, listTopics } from './describe.ts'
import { healthRoute } from './health.ts'
import { serveTraced } from './http-tracing.ts'
import { lagRoute } from './lag.ts'
import type { WorkerMetrics } from './metrics.ts'
import { livePage } from './page.ts'
import { recordsRoute } from './records.ts'
import { answerAtOwner, notOwnedResponse, tableLookup } from './tables.ts'

/**
 * Built-in GET routes of the API contract; they win over an app route of the
 * same path (which is warned about).
 */
export const BUILTIN_ROUTES = [
  '/health',
  '/metrics',
  '/tables/:table/:key',
  '/topics/:topic/records',
] as const

/**
 * Built-in GET routes added later (the live page's data): an app that already
 * answers one of these paths keeps its own route (logged), as it keeps GET /.
 */
export const INFO_ROUTES = ['/agents', '/topics', '/tables', '/lag'] as const

export interface WebAppOptions {
  readonly log: Logger
  readonly metrics: WorkerMetrics
}

/**
 * Makes `c.req.json()` fail with a 400 instead of a SyntaxError, so a client
 * sending bad JSON is told so rather than counted as a server error.
 */
function guardJsonBody(c: Context): void {
  const req = c.req
  const parse = req.json.bind(req)
  req.json = (async () => {
    try {
      return await parse()
    } catch (e) {
      if (e instanceof BodyTooLargeError) throw e
      throw new HTTPException(400, { message: 'malformed JSON in request body', cause: e })
    }
  }) as typeof req.json
}

export function createWebApp(rt: WorkerView, options: WebAppOptions): Hono {
  const { log } = options
  const app = new Hono()

  const corsConfig = rt.config.web.cors
  if (corsConfig)
    app.use(
      '*',
      cors({
        origin:
          corsConfig === true
            ? '*'
            : typeof corsConfig.origin === 'string'
              ? corsConfig.origin
              : [...corsConfig.origin],
      }),
    )

  // After CORS (a preflight carries no credentials), before every route.
  const guard = accessGuard(rt.config.web)
  if (guard) app.use('*', guard)

  app.get('/health', healthRoute(rt))
  app.get('/metrics', async (c) => {
    const text = await options.metrics.render()
    return c.body(text, 200, { 'content-type': options.metrics.contentType })
  })
  // Telemetry on: the app's routes and table lookups (not /health, /metrics) run in a server span.
  const traced = (route: string, handle: (c: Context) => Response | Promise<Response>): Handler =>
    rt.config.telemetry.enabled ? (c) => serveTraced(c, route, () => handle(c)) : handle
  app.get('/tables/:table/:key', traced('/tables/:table/:key', tableLookup(rt)))
  app.get('/topics/:topic/records', traced('/topics/:topic/records', recordsRoute(rt)))

  for (const r of rt.def.routes) {
    if (r.method === 'GET' && (BUILTIN_ROUTES as readonly string[]).includes(r.path))
      log.warn(`route GET ${r.path} is shadowed by the built-in route of the same path`)
    if (r.method === 'GET' && (INFO_ROUTES as readonly string[]).includes(r.path))
      log.info(
        `route GET ${r.path} is the app's: the built-in one of that path (live page data) is not served`,
      )
    const table = r.table
    app.on(
      r.method,
      r.path,
      traced(r.path, (c) => {
        guardJsonBody(c)
        const run = () => r.handler(c, rt.ctx) as Response | Promise<Response>
        // A route that answers for a table key runs on the worker holding the key (Faust's table_route).
        return table ? answerAtOwner(rt, c, table.name, table.key(c), run) : run()
      }),
    )
  }

  // After the app's routes: an app that answers one of these paths itself keeps it (hono runs the
  // first match).
  app.get('/agents', (c) => c.json(listAgents(rt)))
  app.get('/topics', async (c) => c.json(await listTopics(rt)))
  app.get('/tables', (c) => c.json(listTables(rt)))
  app.get('/lag', lagRoute(rt))
  app.get('/', livePage)

  app.notFound((c) => c.json({ error: 'not found' }, 404))
  app.onError((err, c) => {
    if (err instanceof NotOwnedError) return notOwnedResponse(err)
    if (err instanceof BodyTooLargeError) return tooLarge(err.limit)
    // A value the topic's schema refuses came from the request, in all likelihood: the client's to fix.
    if (err instanceof EncodeError)
      return c.json({ error: err.message, ...(err.topic ? { topic: err.topic } : {}) }, 400)
    if (err instanceof HTTPException && err.status < 500)
      return err.res ?? c.json({ error: err.message || 'bad request' }, err.status)
    const method = c.req.method
    const path = c.req.path
    log.error(`route ${method} ${path} failed: ${err.message}`, {
      method,
      path,
      error: err.name,
      ...(err.stack ? { stack: err.stack } : {}),
    })
    return c.json({ error: 'internal error' }, err instanceof HTTPException ? err.status : 500)
  })
  return app
}
