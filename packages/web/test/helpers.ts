/**
 * Test fixtures: a real worker on the memory broker and store with the real web
 * server on 127.0.0.1 (port 0), the shop app the route tests query, a logger
 * whose lines the tests can read, and a tiny Prometheus text parser.
 */
import {
  type AppConfig,
  type AppDefinition,
  createApp,
  Schema,
  tumbling,
  type WebServerHandle,
  type WorkerView,
} from '@stream-app/core'
import {
  MemoryBroker,
  MemoryStore,
  makeLogger,
  resolveConfig,
  startRuntime,
  type WorkerDeps,
  type WorkerRuntime,
} from '@stream-app/core/runtime'
import { startWebServer, type WebServerOptions } from '../src/index.ts'

export const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, amount: Schema.Number })

export const shop = (web: AppConfig['web'] = {}) =>
  createApp({ id: 'web-shop', commitInterval: '50ms', web })
    .topic('orders', {
      key: Schema.String,
      value: Order,
      partitions: 2,
      describe: 'Orders as the shop takes them',
    })
    .topic('big-orders', { value: Order, partitions: 1 })
    .table('revenue', { default: () => 0, describe: 'Revenue per customer' })
    .table('scores', { key: Schema.Number, value: Schema.Number, default: () => 0 })
    .table('pairs', { key: Schema.Struct({ a: Schema.Number, b: Schema.String }), default: () => 'none' })
    .table('per-minute', { default: () => 0, window: tumbling('1m', { expires: '1h' }) })
    .agent(
      'track',
      { from: 'orders', sink: ['big-orders'], describe: 'Sums revenue; passes big orders on' },
      async function* (orders, ctx) {
        for await (const o of orders) {
          ctx.tables.revenue.update(o.customer, (v) => v + o.amount)
          ctx.tables['per-minute'].update(o.customer, (v) => v + 1)
          if (o.amount > 100) yield o
        }
      },
    )
    .route('GET', '/revenue/:customer', (c, ctx) =>
      c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')) }),
    )
    // Answered by the worker holding the customer's row, whichever worker receives it.
    .route('GET', '/owned/:customer', { table: 'revenue', key: (c) => c.req.param('customer') }, (c, ctx) =>
      c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')), q: c.req.query('q') ?? null }),
    )
    .route(
      'POST',
      '/owned/:customer/bonus',
      { table: 'revenue', key: (c) => c.req.param('customer') },
      async (c, ctx) => {
        const { amount } = (await c.req.json()) as { amount: number }
        ctx.tables.revenue.update(c.req.param('customer'), (v) => v + amount)
        return c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')) }, 201)
      },
    )
    .route('POST', '/scores', async (c, ctx) => {
      const body = (await c.req.json()) as { id: number; score: number }
      ctx.tables.scores.set(body.id, body.score)
      return c.json({ ok: true }, 201)
    })
    .route('POST', '/pairs', async (c, ctx) => {
      const body = (await c.req.json()) as { a: number; b: string; value: string }
      ctx.tables.pairs.set({ a: body.a, b: body.b }, body.value)
      return c.json({ ok: true })
    })
    .route('GET', '/boom', () => {
      throw new Error('secret-detail-123')
    })
    .route('GET', '/async-boom', async () => {
      await new Promise((r) => setTimeout(r, 1))
      throw new TypeError('another-secret-456')
    })
    .route('GET', '/slow/:ms', async (c) => {
      await new Promise((r) => setTimeout(r, Number(c.req.param('ms'))))
      return c.text('done')
    })

export interface Running {
  readonly rt: WorkerRuntime
  /** The memory broker the worker runs on (the test's own, or the one made for it). */
  readonly broker: MemoryBroker
  readonly url: string
  readonly web: WebServerHandle
  readonly logs: string[]
  stop(): Promise<void>
}

/** Starts `def` the way the platform does, with the web server in the deps. */
export async function startWeb(
  def: AppDefinition,
  options: {
    web?: AppConfig['web']
    server?: WebServerOptions
    onWebStarted?: (rt: WorkerView, url: string) => Promise<void>
    /** Shared by several workers to make them members of one group. */
    broker?: MemoryBroker
    /** Run on the test clock started at this time (the test moves it with rt.testClock). */
    testClockAt?: number
  } = {},
): Promise<Running> {
  const logs: string[] = []
  const log = makeLogger({ level: 'info', name: def.config.id, write: (l) => logs.push(l) })
  let handle: WebServerHandle | undefined
  const web: WorkerDeps['web'] = async (rt) => {
    const h = await startWebServer(rt, options.server)
    handle = h
    await options.onWebStarted?.(rt, h.url)
    return h
  }
  const broker = options.broker ?? new MemoryBroker()
  const rt = await startRuntime(def, {
    broker,
    store: new MemoryStore(),
    log,
    config: resolveConfig(def.config, {
      broker: 'memory://',
      store: 'memory://',
      web: { port: 0, ...options.web },
    }),
    closeBroker: options.broker === undefined,
    web,
    ...(options.testClockAt !== undefined ? { testClockAt: options.testClockAt } : {}),
  })
  return { rt, broker, url: rt.url!, web: handle!, logs, stop: () => rt.stop() }
}

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly help: ReadonlyMap<string, string>
  readonly samples: readonly Sample[]
}

const unescapeLabel = (v: string) => v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))

/** Parses Prometheus text format 0.0.4; throws on any line it does not understand. */
export function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: Sample[] = []
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (m) {
      help.set(m[1]!, m[2]!)
      continue
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (m) {
      if (types.has(m[1]!)) throw new Error(`duplicate TYPE for ${m[1]}`)
      types.set(m[1]!, m[2]!)
      continue
    }
    m = sampleRe.exec(line)
    if (!m) throw new Error(`not a Prometheus line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = m[2] ?? ''
    labelRe.lastIndex = 0
    while (labelRe.lastIndex < body.length) {
      const l = labelRe.exec(body)
      if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`)
      labels[l[1]!] = unescapeLabel(l[2]!)
    }
    const raw = m[3]!
    // Prometheus reads floats as Go's ParseFloat does: NaN in any case (prom-client writes "Nan").
    const nan = raw.toLowerCase() === 'nan'
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : nan ? NaN : Number(raw)
    if (Number.isNaN(value) && !nan) throw new Error(`bad value in ${JSON.stringify(line)}`)
    const family = types.has(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(family)) throw new Error(`sample ${m[1]} before its TYPE line`)
    samples.push({ name: m[1]!, labels, value })
  }
  return { types, help, samples }
}

export const sampleValue = (e: Exposition, name: string, labels: Record<string, string> = {}) =>
  e.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

/** Waits for GET /health to say 200: the worker runs and its group has settled (GROUP_SETTLE_MS). */
export async function settled(url: string): Promise<void> {
  await until(async () => (await fetch(`${url}/health`).then((r) => r.status)) === 200)
}

/** Polls until `fn` is true (bounded by the test timeout); no timing is asserted. */
export async function until(fn: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await fn())) await new Promise((r) => setTimeout(r, 10))
}
