/**
 * The OpenTelemetry implementation of core's Tracing port: a CONSUMER span per
 * record an agent's handler takes (from take to asking for the next), a
 * PRODUCER span per record produced (sinks, sends, replies, groupBy/through
 * forwards), a CLIENT span per ask() until its reply, each continuing the W3C
 * trace context of the record or context it comes from and writing its own
 * into the headers of the record it sends. Metrics go to the global meter:
 * messages consumed and produced, and the handler's time per record.
 *
 * Only @opentelemetry/api is used: the app registers the SDK (tracer and meter
 * providers, a context manager, exporters) before the worker starts.
 */
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  metrics,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import type { BrokerRecord, Headers, ResolvedConfig, TraceSpan, Tracing } from '@stream-app/core'
import { contextFrom, formatTraceContext, TRACEPARENT, TRACESTATE } from './trace-context.ts'

/** The instrumentation scope of every span and metric. */
export const INSTRUMENTATION = 'stream-app'

/** A span with when it started (for the handler-time histogram). */
class Traced {
  constructor(
    readonly span: Span,
    readonly start: number,
  ) {}
}

const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

/** `headers` with the trace context of `span` (replacing any it carried). */
function withContext(headers: Headers | undefined, span: Span): Headers {
  const out: Record<string, Uint8Array> = {}
  if (headers !== undefined)
    for (const k in headers) if (k !== TRACEPARENT && k !== TRACESTATE) out[k] = headers[k]!
  const tc = formatTraceContext(span.spanContext())
  if (tc !== undefined) {
    out[TRACEPARENT] = Buffer.from(tc.traceparent, 'utf8')
    if (tc.tracestate !== undefined) out[TRACESTATE] = Buffer.from(tc.tracestate, 'utf8')
  }
  return out
}

/** The trace context a record carries (undefined: none, or malformed). */
export function recordContext(rec: { readonly headers: Headers }): Context | undefined {
  const h = rec.headers
  return contextFrom((name) => {
    const v = h[name]
    return v === undefined ? undefined : text(v)
  })
}

const fail = (span: Span, error: unknown): void => {
  if (error instanceof Error) span.recordException(error)
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  })
}

export class OtelTracing implements Tracing {
  private readonly tracer: Tracer
  private readonly consumed: Counter
  private readonly produced: Counter
  private readonly duration: Histogram
  private readonly system: string

  constructor(private readonly config: Pick<ResolvedConfig, 'id' | 'broker'>) {
    this.tracer = trace.getTracer(INSTRUMENTATION)
    const meter = metrics.getMeter(INSTRUMENTATION)
    this.consumed = meter.createCounter('stream_app.messages.consumed', {
      description: 'Records an agent took from its streams',
      unit: '{message}',
    })
    this.produced = meter.createCounter('stream_app.messages.produced', {
      description: 'Records the app produced (sinks, sends, replies, groupBy/through forwards)',
      unit: '{message}',
    })
    this.duration = meter.createHistogram('stream_app.agent.duration', {
      description: "Time an agent's handler spent on one record (took it → asked for the next)",
      unit: 's',
    })
    this.system = config.broker.startsWith('kafka://') ? 'kafka' : 'stream-app'
  }

  private parentOf(parent: TraceSpan | undefined): Context {
    const active = context.active()
    return parent instanceof Traced ? trace.setSpan(active, parent.span) : active
  }

  private attributes(topic: string, agent: string | undefined, operation: string): Attributes {
    return {
      'messaging.system': this.system,
      'messaging.operation.type': operation,
      'messaging.destination.name': topic,
      'stream_app.app': this.config.id,
      ...(agent !== undefined ? { 'stream_app.agent': agent } : {}),
    }
  }

  consume(agent: string, rec: BrokerRecord): TraceSpan {
    const attributes = this.attributes(rec.topic, agent, 'process')
    attributes['messaging.consumer.group.name'] = this.config.id
    attributes['messaging.destination.partition.id'] = String(rec.partition)
    attributes['messaging.kafka.offset'] = rec.offset
    const span = this.tracer.startSpan(
      `process ${rec.topic}`,
      { kind: SpanKind.CONSUMER, attributes },
      recordContext(rec) ?? ROOT_CONTEXT,
    )
    this.consumed.add(1, { 'stream_app.agent': agent, 'messaging.destination.name': rec.topic })
    return new Traced(span, performance.now())
  }

  processed(agent: string, s: TraceSpan, error?: unknown): void {
    if (!(s instanceof Traced)) return
    if (error !== undefined) fail(s.span, error)
    s.span.end()
    this.duration.record((performance.now() - s.start) / 1000, { 'stream_app.agent': agent })
  }

  private send(topic: string, agent: string | undefined, parent: Context, headers: Headers | undefined) {
    const span = this.tracer.startSpan(
      `send ${topic}`,
      { kind: SpanKind.PRODUCER, attributes: this.attributes(topic, agent, 'send') },
      parent,
    )
    span.end()
    this.produced.add(1, { 'messaging.destination.name': topic })
    return withContext(headers, span)
  }

  produce(topic: string, parent: TraceSpan | undefined, headers: Headers | undefined): Headers {
    return this.send(topic, undefined, this.parentOf(parent), headers)
  }

  forward(agent: string, topic: string, from: BrokerRecord): Headers {
    return this.send(topic, agent, recordContext(from) ?? ROOT_CONTEXT, from.headers)
  }

  ask(agent: string, topic: string, parent: TraceSpan | undefined): TraceSpan {
    const span = this.tracer.startSpan(
      `ask ${agent}`,
      { kind: SpanKind.CLIENT, attributes: this.attributes(topic, agent, 'send') },
      this.parentOf(parent),
    )
    this.produced.add(1, { 'messaging.destination.name': topic })
    return new Traced(span, performance.now())
  }

  headers(s: TraceSpan, headers: Headers | undefined): Headers {
    return s instanceof Traced ? withContext(headers, s.span) : (headers ?? {})
  }

  answered(s: TraceSpan, error?: unknown): void {
    if (!(s instanceof Traced)) return
    if (error !== undefined) fail(s.span, error)
    s.span.end()
  }
}

/** The Tracing a worker of `config` uses when its telemetry is on. */
export const otelTracing = (config: Pick<ResolvedConfig, 'id' | 'broker'>): Tracing => new OtelTracing(config)
