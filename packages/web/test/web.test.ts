/**
 * The web server of a real worker (memory broker and store, live clock) over
 * real HTTP on 127.0.0.1: built-in routes, user routes, status codes, the error
 * policy (no leaks), CORS, health across worker states, and forwarding of table
 * lookups to the key's owner.
 */
import { connect } from 'node:net'
import { MemoryBroker, partitionForKey } from '@stream-app/core/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWebServer } from '../src/index.ts'
import { type Running, shop, startWeb, until } from './helpers.ts'

const get = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init)
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown }
}

/** Sends raw bytes on a fresh connection and returns everything the server wrote before closing. */
const raw = (url: string, bytes: string) =>
  new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const s = connect(Number(port), hostname, () => s.write(bytes))
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
    })
    s.on('error', reject)
    s.on('close', () => resolve(out))
  })

describe('web server of a running worker', () => {
  let w: Running
  beforeAll(async () => {
    w = await startWeb(shop().definition)
    const orders = w.rt.topicHandles.orders!
    const tenMinAgo = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000 + 1_000
    await orders.send({ id: '1', customer: 'alice', amount: 50 }, { key: 'alice', timestamp: tenMinAgo })
    await orders.send({ id: '2', customer: 'alice', amount: 300 }, { key: 'alice', timestamp: tenMinAgo })
    await orders.send({ id: '3', customer: 'bob', amount: 20 }, { key: 'bob' })
    await orders.send({ id: '4', customer: 'a b/c', amount: 7 }, { key: 'a b/c' })
    await w.rt.idle()
  })
  afterAll(() => w.stop())

  it('binds 127.0.0.1 on a free port by default', () => {
    expect(w.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(w.url).not.toMatch(/:0$/)
  })

  it('GET /health is 200 {"status":"ok"} when running and the group has settled, HEAD too', async () => {
    await until(async () => (await fetch(`${w.url}/health`)).status === 200)
    const r = await get(`${w.url}/health`)
    expect(r.status).toBe(200)
    expect(r.json()).toMatchObject({ status: 'ok', state: 'running', group: 'stable' })
    const h = await fetch(`${w.url}/health`, { method: 'HEAD' })
    expect(h.status).toBe(200)
  })

  it('GET /tables/:table/:key answers plain tables with the value or the default', async () => {
    expect((await get(`${w.url}/tables/revenue/alice`)).json()).toEqual({ key: 'alice', value: 350 })
    expect((await get(`${w.url}/tables/revenue/bob`)).json()).toEqual({ key: 'bob', value: 20 })
    expect((await get(`${w.url}/tables/revenue/a%20b%2Fc`)).json()).toEqual({ key: 'a b/c', value: 7 })
    const absent = await get(`${w.url}/tables/revenue/nobody`)
    expect(absent.status).toBe(200)
    expect(absent.headers.get('content-type')).toMatch(/^application\/json/)
    expect(absent.json()).toEqual({ key: 'nobody', value: 0 })
  })

  it('GET /tables answers 404 JSON for an unknown table', async () => {
    const r = await get(`${w.url}/tables/nope/x`)
    expect(r.status).toBe(404)
    expect(r.json()).toEqual({ error: "no table 'nope'" })
  })

  it('GET /tables parses non-string keys as JSON and rejects bad JSON or a schema mismatch with 400', async () => {
    const set = await get(`${w.url}/scores`, { method: 'POST', body: JSON.stringify({ id: 7, score: 42 }) })
    expect(set.status).toBe(201)
    expect((await get(`${w.url}/tables/scores/7`)).json()).toEqual({ key: 7, value: 42 })
    expect((await get(`${w.url}/tables/scores/8`)).json()).toEqual({ key: 8, value: 0 })
    const bad = await get(`${w.url}/tables/scores/seven`)
    expect(bad.status).toBe(400)
    expect(bad.json()).toMatchObject({ error: expect.stringContaining('JSON') })
    const mismatch = await get(`${w.url}/tables/scores/${encodeURIComponent('"7"')}`)
    expect(mismatch.status).toBe(400)
    expect(mismatch.json()).toMatchObject({ error: expect.stringContaining('key schema') })

    await get(`${w.url}/pairs`, { method: 'POST', body: JSON.stringify({ a: 1, b: 'x', value: 'one-x' }) })
    const key = encodeURIComponent(JSON.stringify({ a: 1, b: 'x' }))
    expect((await get(`${w.url}/tables/pairs/${key}`)).json()).toEqual({
      key: { a: 1, b: 'x' },
      value: 'one-x',
    })
    const other = encodeURIComponent(JSON.stringify({ a: 2, b: 'x' }))
    expect((await get(`${w.url}/tables/pairs/${other}`)).json()).toEqual({
      key: { a: 2, b: 'x' },
      value: 'none',
    })
    const wrong = encodeURIComponent(JSON.stringify({ a: 'one', b: 'x' }))
    expect((await get(`${w.url}/tables/pairs/${wrong}`)).status).toBe(400)
    expect((await get(`${w.url}/tables/pairs/${encodeURIComponent('{"a":1,')}`)).status).toBe(400)
  })

  it('GET /tables on a windowed table gives the current value and every window', async () => {
    const before = Math.floor(Date.now() / 60_000) * 60_000
    const r = await get(`${w.url}/tables/per-minute/alice`)
    const after = Math.floor(Date.now() / 60_000) * 60_000
    expect(r.status).toBe(200)
    const body = r.json() as {
      key: string
      value: number
      windows: { start: number; end: number; value: number }[]
    }
    expect(body.key).toBe('alice')
    // Both orders of alice are ten minutes old: one window of 2, nothing in the current one.
    expect(body.windows).toEqual([{ start: before - 10 * 60_000, end: before - 9 * 60_000, value: 2 }])
    if (before === after) expect(body.value).toBe(0)
    const bob = (await get(`${w.url}/tables/per-minute/bob`)).json() as { value: number; windows: unknown[] }
    expect(bob.windows).toHaveLength(1)
  })

  it('GET /agents and GET /topics list what runs, with counters', async () => {
    const agents = (await get(`${w.url}/agents`)).json()
    expect(agents).toEqual([
      {
        name: 'track',
        from: ['orders'],
        sink: ['big-orders'],
        concurrency: 1,
        supervisor: 'one_for_one',
        restarts: 0,
        state: 'running',
        consumed: 4, // four orders in,
        yielded: 1, // one of them big
        describe: 'Sums revenue; passes big orders on',
      },
    ])
    const topics = (await get(`${w.url}/topics`)).json() as Record<string, unknown>[]
    expect(topics.find((t) => t.name === 'orders')).toEqual({
      name: 'orders',
      partitions: 2,
      key: 'String',
      value: 'Struct',
      codec: 'json',
      onInvalid: 'skip',
      agents: ['track'],
      messagesIn: 4,
      messagesOut: 4,
      describe: 'Orders as the shop takes them',
      internal: false,
      // One copy on a local broker; in-sync replicas do not apply.
      replicationFactor: 1,
      inSyncReplicas: null,
    })
    // The topics the worker made for itself: its table changelogs, replies and leader topics.
    const internal = topics.filter((t) => t.internal)
    expect(internal.map((t) => t.name)).toContain(`${w.rt.id}-revenue-changelog`)
    expect(internal.find((t) => t.name === `${w.rt.id}-__leader`)).toEqual({
      name: `${w.rt.id}-__leader`,
      partitions: 1,
      internal: true,
      replicationFactor: 1,
      inSyncReplicas: null,
    })
    expect(topics.find((t) => t.name === 'big-orders')).toMatchObject({ agents: [], messagesOut: 1 })
  })

  it('GET /tables lists each table with what this worker holds; GET /lag the lag per partition', async () => {
    const tables = (await get(`${w.url}/tables`)).json() as Record<string, unknown>[]
    expect(tables.map((t) => t.name)).toEqual(['revenue', 'scores', 'pairs', 'per-minute'])
    expect(tables[0]).toEqual({
      name: 'revenue',
      key: 'String',
      value: 'Unknown',
      global: false,
      windowed: false,
      partitions: 2,
      held: [0, 1],
      owned: [0, 1],
      followed: [],
      rows: 3, // alice, bob, 'a b/c'
      writes: 4,
      recovering: false,
      describe: 'Revenue per customer',
    })
    expect(tables[3]).toMatchObject({ name: 'per-minute', windowed: true, rows: 3, writes: 4 })

    // Committed every 50ms: the lag drains to 0 with the end offsets holding the four orders.
    type Lag = { topic: string; partition: number; position: number; end: number; lag: number }
    let lag: Lag[] = []
    await until(async () => {
      const r = await get(`${w.url}/lag`)
      expect(r.status).toBe(200)
      lag = r.json() as Lag[]
      return lag.every((l) => l.lag === 0)
    })
    expect(lag.map((l) => `${l.topic}.${l.partition}`)).toEqual(['orders.0', 'orders.1'])
    expect(lag.reduce((n, l) => n + l.end, 0)).toBe(4)
    expect(lag.every((l) => l.position === l.end)).toBe(true)
  })

  it('runs user routes with hono path syntax and the app ctx', async () => {
    const r = await get(`${w.url}/revenue/alice`)
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ revenue: 350 })
  })

  it('answers 500 {"error":"internal error"} for a throwing route, and logs what happened', async () => {
    for (const [path, secret] of [
      ['/boom', 'secret-detail-123'],
      ['/async-boom', 'another-secret-456'],
    ] as const) {
      const r = await get(`${w.url}${path}`)
      expect(r.status).toBe(500)
      expect(r.text).toBe('{"error":"internal error"}')
      expect(r.headers.get('content-type')).toMatch(/^application\/json/)
      const line = w.logs.find((l) => l.includes(secret))
      expect(line).toBeDefined()
      expect(line).toContain('GET')
      expect(line).toContain(path)
      expect(line).toContain('ERROR')
    }
  })

  it('answers 404 JSON for an unknown path or method', async () => {
    const r = await get(`${w.url}/no/such/path`)
    expect(r.status).toBe(404)
    expect(r.json()).toEqual({ error: 'not found' })
    expect((await get(`${w.url}/health`, { method: 'DELETE' })).status).toBe(404)
  })

  it('answers 400 JSON for a malformed body, bad URL encoding or an unparseable request', async () => {
    const errorsBefore = w.logs.filter((l) => l.includes('ERROR')).length
    const body = await get(`${w.url}/scores`, { method: 'POST', body: '{"id": 7,' })
    expect(body.status).toBe(400)
    expect(body.json()).toEqual({ error: 'malformed JSON in request body' })
    const enc = await get(`${w.url}/tables/revenue/%E0%A4%A`)
    expect(enc.status).toBe(400)
    expect(enc.json()).toMatchObject({ error: expect.stringContaining('percent-encoding') })
    expect((await get(`${w.url}/revenue/%ZZ`)).status).toBe(400)
    const garbage = await raw(w.url, 'THIS IS NOT HTTP\r\n\r\n')
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /)
    expect(garbage).toContain('{"error":"bad request"}')
    // A client's mistake is not a server error.
    expect(w.logs.filter((l) => l.includes('ERROR')).length).toBe(errorsBefore)
  })

  it('sends no CORS headers unless configured', async () => {
    const r = await fetch(`${w.url}/health`, { headers: { origin: 'http://elsewhere.example' } })
    expect(r.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('CORS', () => {
  it('cors: true allows any origin, preflight included', async () => {
    const w = await startWeb(shop({ cors: true }).definition)
    try {
      const r = await fetch(`${w.url}/tables/revenue/x`, { headers: { origin: 'http://a.example' } })
      expect(r.headers.get('access-control-allow-origin')).toBe('*')
      const pre = await fetch(`${w.url}/scores`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://a.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      })
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('*')
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST')
      expect(pre.headers.get('access-control-allow-headers')).toContain('content-type')
    } finally {
      await w.stop()
    }
  })

  it('cors: { origin: [...] } allows only the listed origins', async () => {
    const w = await startWeb(shop({ cors: { origin: ['http://a.example', 'http://b.example'] } }).definition)
    try {
      const ok = await fetch(`${w.url}/health`, { headers: { origin: 'http://b.example' } })
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://b.example')
      const no = await fetch(`${w.url}/health`, { headers: { origin: 'http://c.example' } })
      expect(no.headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await w.stop()
    }
  })
})

describe('/health across worker states', () => {
  it('is 503 {"status":"recovering"} while the worker starts its consumer and recovers', async () => {
    let during: { status: number; body: unknown } | undefined
    const w = await startWeb(shop().definition, {
      onWebStarted: async (_rt, url) => {
        const r = await get(`${url}/health`)
        during = { status: r.status, body: r.json() }
      },
    })
    try {
      expect(during).toMatchObject({ status: 503, body: { status: 'recovering', group: 'rebalancing' } })
      await until(async () => (await get(`${w.url}/health`)).status === 200)
    } finally {
      await w.stop()
    }
  })

  it('follows the worker state live: recovering, running, stopped', async () => {
    let during: { status: number; body: unknown } | undefined
    let tableDuring: unknown
    const w = await startWeb(shop().definition, {
      onWebStarted: async (_rt, url) => {
        const r = await get(`${url}/health`)
        during = { status: r.status, body: r.json() }
        // Serving before the worker is ready must not freeze a ctx without tables.
        tableDuring = (await get(`${url}/tables/revenue/x`)).status
      },
    })
    // A second server on the same worker, which outlives it.
    const web = await startWebServer(w.rt)
    try {
      expect(during).toMatchObject({ status: 503, body: { status: 'recovering' } })
      expect(tableDuring).not.toBe(500)
      await until(async () => (await get(`${web.url}/health`)).status === 200)
      expect((await get(`${web.url}/health`)).json()).toMatchObject({ status: 'ok' })
      expect((await get(`${web.url}/tables/revenue/x`)).json()).toEqual({ key: 'x', value: 0 })
      await w.stop()
      const stopped = await get(`${web.url}/health`)
      expect(stopped.status).toBe(503)
      expect(stopped.json()).toMatchObject({ status: 'stopped', reason: 'the worker has stopped' })
    } finally {
      await web.close()
    }
  })
})

describe('table keys another worker holds', () => {
  it('forwards /tables and { table } routes to the holder, refuses a plain route with 421, and says 502 when the holder does not answer', async () => {
    const broker = new MemoryBroker()
    const a = await startWeb(shop().definition, { broker })
    const b = await startWeb(shop().definition, { broker })
    // Two members, 2 partitions: one each (join order). One customer per partition.
    const names = ['carol', 'dave', 'erin', 'frank', 'gina', 'hank']
    const onA = names.find((n) => partitionForKey(Buffer.from(n), 2) === 0)!
    const onB = names.find((n) => partitionForKey(Buffer.from(n), 2) === 1)!
    try {
      await a.rt.topicHandles.orders!.send({ id: '1', customer: onA, amount: 7 }, { key: onA })
      await a.rt.topicHandles.orders!.send({ id: '2', customer: onB, amount: 9 }, { key: onB })
      await a.rt.idle()
      await b.rt.idle()
      // Every worker answers every key (once the group's membership is known to both).
      for (const w of [a, b]) {
        await until(async () => (await get(`${w.url}/tables/revenue/${onA}`)).status === 200)
        await until(async () => (await get(`${w.url}/tables/revenue/${onB}`)).status === 200)
        expect((await get(`${w.url}/tables/revenue/${onA}`)).json()).toEqual({ key: onA, value: 7 })
        expect((await get(`${w.url}/tables/revenue/${onB}`)).json()).toEqual({ key: onB, value: 9 })
        expect((await get(`${w.url}/owned/${onB}?q=x`)).json()).toEqual({ revenue: 9, q: 'x' })
        expect((await get(`${w.url}/tables/revenue/nobody`)).json()).toMatchObject({ value: 0 })
      }
      // A route declared for a table key carries method, body and query to the holder, which writes there.
      const bonus = await fetch(`${a.url}/owned/${onB}/bonus`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 100 }),
      })
      expect(bonus.status).toBe(201)
      expect(await bonus.json()).toEqual({ revenue: 109 })
      expect((b.rt.ctx.tables as { revenue: { get(k: string): number } }).revenue.get(onB)).toBe(109)
      // A plain route reading a key held elsewhere is refused, never answered with the default.
      const plain = await get(`${a.url}/revenue/${onB}`)
      expect(plain.status).toBe(421)
      expect(plain.json()).toMatchObject({ error: expect.stringContaining(`table 'revenue'`) })
      expect((await get(`${a.url}/revenue/${onA}`)).json()).toEqual({ revenue: 7 })

      // The holder's web server goes away: 502, not a default.
      await b.web.close()
      const gone = await get(`${a.url}/tables/revenue/${onB}`)
      expect(gone.status).toBe(502)
      expect(gone.json()).toMatchObject({ error: expect.stringContaining('revenue') })
    } finally {
      await b.stop()
      await a.stop()
      await broker.close()
    }
  })
})
