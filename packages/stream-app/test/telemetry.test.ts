/**
 * OpenTelemetry end to end: two real workers of one app on a sqlite:// broker
 * file, with an in-memory span exporter and metric reader registered as the
 * app's SDK would. A request to a route sends an order and asks an agent; the
 * order goes through two agents, one of which repartitions it with groupBy;
 * every span of that must be one trace, parented record by record. A
 * table-routed GET answered by the other worker carries the trace across the
 * forwarded request. With telemetry off no record gets a traceparent.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { context, metrics, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { formatTraceContext } from '@stream-app/web'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected override async onForceFlush() {}
  protected override async onShutdown() {}
}

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const reader = new TestReader()
const contextManager = new AsyncLocalStorageContextManager().enable()
const tracer = provider.getTracer('test')

const dir = mkdtempSync(join(tmpdir(), 'stream-app-otel-'))
/** Headers of the records the `audit` agent saw on `enriched`. */
const seen: Record<string, string>[] = []

const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, amount: Schema.Number })

const makeApp = (id: string, telemetry: boolean) =>
  createApp({
    id,
    broker: `sqlite://${join(dir, `${id}.sqlite`)}`,
    store: 'memory://',
    datadir: join(dir, id),
    commitInterval: '100ms',
    web: { port: 0 },
    logLevel: 'warn',
    // Off is the default: the plain app does not mention it.
    ...(telemetry ? { telemetry: { enabled: true } } : {}),
  })
    .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
    .topic('enriched', { key: Schema.String, value: Order, partitions: 4 })
    .table('totals', { default: () => 0 })
    .agent('enrich', { from: 'orders', sink: ['enriched'] }, async function* (orders) {
      for await (const o of orders) yield { ...o, amount: o.amount * 100 }
    })
    .agent('total', { from: 'enriched' }, async (enriched, ctx) => {
      for await (const o of enriched.groupBy((o) => o.customer, { name: 'by-customer' }))
        ctx.tables.totals.update(o.customer, (n) => n + o.amount)
    })
    .agent('audit', { from: 'enriched' }, async (enriched) => {
      for await (const e of enriched.events()) seen.push({ ...e.headers })
    })
    .agent('double', { value: Schema.Number }, async function* (numbers) {
      for await (const n of numbers) yield n * 2
    })
    .route('POST', '/orders', async (c, ctx) => {
      const o = (await c.req.json()) as typeof Order.Type
      await ctx.topics.orders.send(o, { key: o.id })
      return c.json({ doubled: await ctx.agents.double.ask(o.amount) })
    })
    .route('GET', '/totals/:customer', { table: 'totals', key: (c) => c.req.param('customer') }, (c, ctx) =>
      c.json({ total: ctx.tables.totals.get(c.req.param('customer')) }),
    )

type AppWorker = Awaited<ReturnType<ReturnType<typeof makeApp>['start']>>
const workers: AppWorker[] = []
const start = async (app: ReturnType<typeof makeApp>) => {
  const w = await app.start()
  workers.push(w)
  return w
}

/** Polls fn until it returns something; after 10s fails saying what it waited for. */
const until = async <T>(
  fn: () => T | undefined | Promise<T | undefined>,
  what = 'a condition',
): Promise<T> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`waited 10s for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A root span of the test's own, and the traceparent header that continues it. */
const root = (name: string) => {
  const span = tracer.startSpan(name, {}, ROOT_CONTEXT)
  span.end()
  return { span, traceparent: formatTraceContext(span.spanContext())!.traceparent }
}

const inTrace = (traceId: string) =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId)
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
const idOf = (s: ReadableSpan) => s.spanContext().spanId

/** The one span of the trace named `name` (and of `agent`, if given), once it has ended. */
const span = (traceId: string, name: string, agent?: string) =>
  until(
    () => {
      const found = inTrace(traceId).filter(
        (s) => s.name === name && (agent === undefined || s.attributes['stream_app.agent'] === agent),
      )
      return found.length === 1 ? found[0] : undefined
    },
    `one span '${name}'${agent ? ` of agent ${agent}` : ''} in the trace (spans: ${inTrace(traceId)
      .map((s) => s.name)
      .join(', ')})`,
  )

beforeAll(() => {
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(contextManager)
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
})

afterAll(async () => {
  for (const w of workers) await w.stop()
  trace.disable()
  context.disable()
  metrics.disable()
  rmSync(dir, { recursive: true, force: true })
})

describe('telemetry on', () => {
  let a: AppWorker
  let b: AppWorker

  beforeAll(async () => {
    const app = makeApp('otel', true)
    a = await start(app)
    b = await start(app)
    // Both know the group's membership: every key is answered (503 while it settles).
    for (const w of [a, b])
      await until(async () => ((await fetch(`${w.url}/totals/nobody`)).status === 200 ? true : undefined))
  })

  it('follows a request through a send, two agents, a repartition and an ask as one trace', async () => {
    const client = root('client')
    const traceId = client.span.spanContext().traceId
    const res = await fetch(`${a.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: client.traceparent },
      body: JSON.stringify({ id: 'o1', customer: 'ann', amount: 5 }),
    })
    expect(await res.json()).toEqual({ doubled: 10 })

    const server = await span(traceId, 'POST /orders')
    expect(server.kind).toBe(SpanKind.SERVER)
    expect(parentOf(server)).toBe(idOf(client.span as unknown as ReadableSpan))

    // route → orders → enrich → enriched → total's groupBy → its repartition topic → total
    const sendOrders = await span(traceId, 'send orders')
    expect(sendOrders.kind).toBe(SpanKind.PRODUCER)
    expect(parentOf(sendOrders)).toBe(idOf(server))
    const enrich = await span(traceId, 'process orders', 'enrich')
    expect(enrich.kind).toBe(SpanKind.CONSUMER)
    expect(parentOf(enrich)).toBe(idOf(sendOrders))
    const sendEnriched = await span(traceId, 'send enriched')
    expect(parentOf(sendEnriched)).toBe(idOf(enrich))
    const repartition = 'otel-total-by-customer-repartition'
    const forward = await span(traceId, `send ${repartition}`, 'total')
    expect(parentOf(forward)).toBe(idOf(sendEnriched))
    const total = await span(traceId, `process ${repartition}`, 'total')
    expect(parentOf(total)).toBe(idOf(forward))
    const audit = await span(traceId, 'process enriched', 'audit')
    expect(parentOf(audit)).toBe(idOf(sendEnriched))

    // The ask: its span is the request's parent; the reply is sent under the agent's span.
    const ask = await span(traceId, 'ask double')
    expect(ask.kind).toBe(SpanKind.CLIENT)
    expect(parentOf(ask)).toBe(idOf(server))
    const double = await span(traceId, 'process double', 'double')
    expect(parentOf(double)).toBe(idOf(ask))
    const reply = await span(traceId, 'send otel-__replies')
    expect(parentOf(reply)).toBe(idOf(double))

    // The record the audit agent saw carries the trace context of the span that sent it.
    expect(seen).toContainEqual(
      expect.objectContaining({ traceparent: formatTraceContext(sendEnriched.spanContext())!.traceparent }),
    )
  })

  it('carries the trace to the worker a table-routed request is forwarded to', async () => {
    await until(async () => {
      const r = await fetch(`${a.url}/totals/ann`)
      return r.status === 200 && ((await r.json()) as { total: number }).total === 500 ? true : undefined
    })
    const forwarded: string[] = []
    for (const w of [a, b]) {
      const client = root('client')
      const traceId = client.span.spanContext().traceId
      const res = await fetch(`${w.url}/totals/ann`, { headers: { traceparent: client.traceparent } })
      expect(await res.json()).toEqual({ total: 500 })
      // Every request here: a server span continuing the client's trace.
      const servers = () =>
        inTrace(traceId).filter((s) => s.name === 'GET /totals/:customer' && s.kind === SpanKind.SERVER)
      const first = await until(() =>
        servers().find((s) => parentOf(s) === idOf(client.span as unknown as ReadableSpan)),
      )
      const forward = inTrace(traceId).find((s) => s.name === 'GET forward')
      if (forward === undefined) continue
      // The worker that does not hold the key forwarded it, and the holder's span continues the trace.
      expect(forward.kind).toBe(SpanKind.CLIENT)
      expect(parentOf(forward)).toBe(idOf(first))
      const owner = await until(() => servers().find((s) => parentOf(s) === idOf(forward)))
      expect(owner.spanContext().traceId).toBe(traceId)
      forwarded.push(w.url!)
    }
    // The key lives on one worker: the request to the other one was forwarded.
    expect(forwarded).toHaveLength(1)
  })

  it('counts consumed and produced messages and times handlers per agent', async () => {
    const { resourceMetrics } = await reader.collect()
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    const points = (name: string) => all.find((m) => m.descriptor.name === name)?.dataPoints ?? []
    const consumed = points('stream_app.messages.consumed')
    expect(consumed).toContainEqual(
      expect.objectContaining({
        attributes: { 'stream_app.agent': 'enrich', 'messaging.destination.name': 'orders' },
        value: 1,
      }),
    )
    expect(points('stream_app.messages.produced')).toContainEqual(
      expect.objectContaining({ attributes: { 'messaging.destination.name': 'enriched' }, value: 1 }),
    )
    const durations = points('stream_app.agent.duration')
    const total = durations.find((p) => p.attributes['stream_app.agent'] === 'total')
    expect((total?.value as { count: number } | undefined)?.count).toBe(1)
  })
})

describe('telemetry off', () => {
  it('adds no trace context to records, even with a tracer registered and a span active', async () => {
    seen.length = 0
    const w = await start(makeApp('plain', false))
    const client = root('client')
    await context.with(trace.setSpan(ROOT_CONTEXT, client.span), () =>
      w.topics.orders.send({ id: 'o2', customer: 'bob', amount: 1 }, { key: 'o2' }),
    )
    await fetch(`${w.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: client.traceparent },
      body: JSON.stringify({ id: 'o3', customer: 'bob', amount: 2 }),
    })
    await until(() => (seen.length >= 2 ? true : undefined))
    expect(seen).toHaveLength(2)
    for (const h of seen) expect(h).not.toHaveProperty('traceparent')
    expect(inTrace(client.span.spanContext().traceId).map((s) => s.name)).toEqual(['client'])
  })
})
