/**
 * The Tracing port: where the runtime tells a tracer (OpenTelemetry, in
 * @stream-app/web) that a handler took a record, finished with it, or that a
 * record is about to be produced, so spans can follow a record across topics,
 * repartitions and asks. Core never depends on a tracing library: it hands
 * the implementation records and gets back opaque spans and the headers
 * (the trace context) to put on outgoing records.
 *
 * Off by default: the worker holds `undefined` instead of a Tracing and the
 * hot path pays one comparison per record — no call, no allocation.
 */
import type { BrokerRecord, Headers } from './index.ts'

/** A span the implementation made; core only hands it back. */
export type TraceSpan = object

export interface Tracing {
  /** An agent's handler took the value of `rec`: a span for it, continuing the trace in rec's headers. */
  consume(agent: string, rec: BrokerRecord): TraceSpan
  /** The handler is done with that value: it asked for the next one, returned, or threw `error`. */
  processed(agent: string, span: TraceSpan, error?: unknown): void
  /**
   * A record about to be produced to `topic` by the handler of `parent`'s
   * record (undefined: outside a handler — a route, a timer — in whatever
   * context the caller is): `headers` plus the trace context to carry.
   */
  produce(topic: string, parent: TraceSpan | undefined, headers: Headers | undefined): Headers
  /** groupBy/through forwards `from` to `topic`: its headers, the trace context continued. */
  forward(agent: string, topic: string, from: BrokerRecord): Headers
  /** An ask() to `agent` on `topic` from `parent`'s handler (or the caller's context): its span. */
  ask(agent: string, topic: string, parent: TraceSpan | undefined): TraceSpan
  /** The headers carrying `span`'s trace context, merged over `headers`. */
  headers(span: TraceSpan, headers: Headers | undefined): Headers
  /** The ask's reply came, or it failed with `error`. */
  answered(span: TraceSpan, error?: unknown): void
}
