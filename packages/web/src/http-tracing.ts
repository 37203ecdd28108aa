/**
 * Spans of the app's HTTP requests when telemetry is on: a SERVER span per
 * request to a route or a table lookup, continuing the caller's traceparent
 * (or, when an HTTP instrumentation already made a span for the request, a
 * child of that), active while the handler runs so what it sends and asks is
 * traced under it; and a CLIENT span for a request forwarded to the worker
 * holding a table key, whose trace context the forwarded request carries.
 */
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Context } from 'hono'
import { INSTRUMENTATION } from './telemetry.ts'
import { contextFrom, formatTraceContext, TRACEPARENT, TRACESTATE } from './trace-context.ts'

const ended = (span: Span, res: Response): Response => {
  span.setAttribute('http.response.status_code', res.status)
  if (res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
  span.end()
  return res
}

const failed = (span: Span, e: unknown): never => {
  if (e instanceof Error) span.recordException(e)
  span.setStatus({ code: SpanStatusCode.ERROR })
  span.end()
  throw e
}

/** Runs `handle` for the request in a span named by its method and route. */
export async function serveTraced(
  c: Context,
  route: string,
  handle: () => Response | Promise<Response>,
): Promise<Response> {
  const active = context.active()
  const instrumented = trace.getSpan(active) !== undefined
  const parent = instrumented ? active : (contextFrom((name) => c.req.header(name)) ?? active)
  const method = c.req.method
  const span = trace.getTracer(INSTRUMENTATION).startSpan(
    `${method} ${route}`,
    {
      kind: instrumented ? SpanKind.INTERNAL : SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'http.route': route, 'url.path': c.req.path },
    },
    parent,
  )
  try {
    return ended(span, await context.with(trace.setSpan(parent, span), handle))
  } catch (e) {
    return failed(span, e)
  }
}

/** Sends a forwarded request in a CLIENT span whose trace context replaces the one it came with. */
export async function forwardTraced(
  method: string,
  url: string,
  headers: Headers,
  send: () => Promise<Response>,
): Promise<Response> {
  const span = trace
    .getTracer(INSTRUMENTATION)
    .startSpan(
      `${method} forward`,
      { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': url } },
      context.active(),
    )
  headers.delete(TRACEPARENT)
  headers.delete(TRACESTATE)
  const tc = formatTraceContext(span.spanContext())
  if (tc !== undefined) {
    headers.set(TRACEPARENT, tc.traceparent)
    if (tc.tracestate !== undefined) headers.set(TRACESTATE, tc.tracestate)
  }
  try {
    return ended(span, await send())
  } catch (e) {
    return failed(span, e)
  }
}
