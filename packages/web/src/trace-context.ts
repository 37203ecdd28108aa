/**
 * W3C Trace Context (traceparent, tracestate) read from and written to record
 * headers and HTTP headers. Written here rather than taken from the globally
 * registered propagator, so a record always carries the W3C format whatever
 * propagator (or none) the app registered, and the API package is all we need.
 */
import {
  type Context,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
} from '@opentelemetry/api'

export const TRACEPARENT = 'traceparent'
export const TRACESTATE = 'tracestate'

const PARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** The headers' values for a span context, or undefined when it is not a valid one. */
export function formatTraceContext(
  sc: SpanContext,
): { traceparent: string; tracestate?: string } | undefined {
  if (!isSpanContextValid(sc)) return undefined
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0')
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${flags}`
  const state = sc.traceState?.serialize()
  return state ? { traceparent, tracestate: state } : { traceparent }
}

/** The remote span context a traceparent (and tracestate) names, or undefined when malformed. */
export function parseTraceContext(
  traceparent: string | undefined,
  tracestate: string | undefined,
): SpanContext | undefined {
  if (traceparent === undefined) return undefined
  const m = PARENT.exec(traceparent.trim())
  if (!m) return undefined
  const [, version, traceId, spanId, flags, rest] = m
  // Version 00 has nothing after the flags; ff is forbidden.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  const sc: SpanContext = {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: Number.parseInt(flags!, 16),
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  }
  return isSpanContextValid(sc) ? sc : undefined
}

/** A context whose parent is the remote span a carrier names; `base` (or the root) when it names none. */
export function contextFrom(
  get: (name: string) => string | undefined,
  base: Context = ROOT_CONTEXT,
): Context | undefined {
  const sc = parseTraceContext(get(TRACEPARENT), get(TRACESTATE))
  return sc === undefined ? undefined : trace.setSpanContext(base, sc)
}
