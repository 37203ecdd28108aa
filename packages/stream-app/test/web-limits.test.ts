/**
 * Request limits and who may ask, over real HTTP to workers started with
 * app.start() (web on port 0): a body past `web.bodyLimit` is answered 413
 * (declared or streamed), a route's send of a value the topic's schema refuses
 * is a 400 with the schema's message, and with `web.token` the data endpoints
 * answer 401 without the bearer token while /health and /metrics stay open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client } from '../src/client.ts'
import { createApp, EncodeError, Schema } from '../src/index.ts'

const TOKEN = 'limits-token-7f3a'
const Order = Schema.Struct({ id: Schema.String, amount: Schema.Number })

const makeApp = (web: { token?: string; protectMetrics?: boolean } = {}) =>
  createApp({
    id: 'limits',
    broker: 'memory://',
    store: 'memory://',
    logLevel: 'error',
    web: { port: 0, bodyLimit: '64kb', ...web },
  })
    .topic('orders', { key: Schema.String, value: Order, partitions: 2 })
    .table('totals', { default: () => 0 })
    .agent('total', { from: 'orders' }, async (orders, ctx) => {
      for await (const o of orders) ctx.tables.totals.update(o.id, (n) => n + o.amount)
    })
    .route('POST', '/orders', async (c, ctx) => {
      const o = (await c.req.json()) as typeof Order.Type
      await ctx.topics.orders.send(o, { key: String(o.id) })
      return c.json({ ok: true }, 201)
    })
    // The app may catch the typed error and answer its own way.
    .route('POST', '/orders/lenient', async (c, ctx) => {
      try {
        await ctx.topics.orders.send((await c.req.json()) as typeof Order.Type, { key: 'k' })
        return c.json({ ok: true }, 201)
      } catch (e) {
        if (e instanceof EncodeError) return c.json({ caught: e._tag, topic: e.topic ?? null }, 422)
        throw e
      }
    })
    .route('POST', '/size', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }))
    // An app route under a guarded prefix needs the token too.
    .route('GET', '/topics/summary', (c) => c.json({ topics: 1 }))

type AppWorker = Awaited<ReturnType<ReturnType<typeof makeApp>['start']>>

/** A body of n bytes streamed in 16 KB chunks, with no Content-Length (chunked). */
const streamOf = (n: number) => {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= n) return controller.close()
      const chunk = new Uint8Array(Math.min(16_384, n - sent)).fill(120)
      sent += chunk.length
      controller.enqueue(chunk)
    },
  })
}
const post = (url: string, body: RequestInit['body'], headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers, duplex: 'half' } as RequestInit)

describe('request limits', () => {
  let w: AppWorker
  beforeAll(async () => {
    w = await makeApp().start()
  })
  afterAll(() => w?.stop())

  it('answers 413 with the limit for a declared Content-Length past it, without reading the body', async () => {
    // 8 MB: the server answers from the header and closes; it never takes the body in.
    const res = await post(`${w.url}/size`, new Uint8Array(8 * 1024 * 1024))
    expect(res.status).toBe(413)
    expect(await res.json()).toEqual({
      error: 'request body larger than the limit of 64 KiB (web.bodyLimit: 65536 bytes)',
      limit: 65_536,
    })
    const ok = await post(`${w.url}/size`, new Uint8Array(65_536))
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ bytes: 65_536 })
  })

  it('answers 413 for a streamed body once it passes the limit, and takes one within it', async () => {
    const res = await post(`${w.url}/size`, streamOf(1024 * 1024))
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ limit: 65_536 })
    // Through c.req.json() too: the limit, not "malformed JSON".
    const json = await post(`${w.url}/orders`, streamOf(200_000), { 'content-type': 'application/json' })
    expect(json.status).toBe(413)
    const ok = await post(`${w.url}/size`, streamOf(65_536))
    expect(await ok.json()).toEqual({ bytes: 65_536 })
  })

  it("answers 400 with the schema's one-line message when a route sends a value the topic refuses", async () => {
    const res = await post(`${w.url}/orders`, JSON.stringify({ id: 'o1', amount: 'lots' }))
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: string; topic: string }
    expect(body.topic).toBe('orders')
    expect(body.error).toMatch(/^cannot encode value for topic 'orders': .*amount/)
    expect(body.error).not.toContain('\n')
    // Nothing was sent: a valid order after it is the only one counted.
    expect((await post(`${w.url}/orders`, JSON.stringify({ id: 'o1', amount: 5 }))).status).toBe(201)
    await w.idle()
    expect(w.tables.totals.get('o1')).toBe(5)
    // The app can catch the typed error instead.
    const lenient = await post(`${w.url}/orders/lenient`, JSON.stringify({ id: 1 }))
    expect(lenient.status).toBe(422)
    expect(await lenient.json()).toEqual({ caught: 'EncodeError', topic: 'orders' })
  })

  it('defaults to 1 MiB and refuses a malformed limit at createApp', () => {
    expect(createApp({ id: 'd' }).definition.config.web).toBeUndefined()
    expect(() => createApp({ id: 'd', web: { bodyLimit: 'lots' } })).toThrow(
      /web\.bodyLimit must be a whole number of bytes or a size such as '512kb' or '1mb', got "lots"/,
    )
    expect(() => createApp({ id: 'd', web: { token: 'two words' } })).toThrow(/web\.token must be/)
  })
})

describe('web.token', () => {
  let w: AppWorker
  let guarded: AppWorker
  beforeAll(async () => {
    w = await makeApp({ token: TOKEN }).start()
    guarded = await makeApp({ token: TOKEN, protectMetrics: true }).start()
  })
  afterAll(async () => {
    await w?.stop()
    await guarded?.stop()
  })

  const DATA = [
    '/tables',
    '/tables/totals/o1',
    '/agents',
    '/topics',
    '/lag',
    '/topics/orders/records',
    '/topics/summary',
  ]

  it('answers 401 on every data endpoint without the token (or with a wrong one), and serves them with it', async () => {
    for (const path of DATA) {
      const none = await fetch(`${w.url}${path}`)
      expect([path, none.status]).toEqual([path, 401])
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(await none.json()).toEqual({
        error: 'this endpoint needs the web token: send Authorization: Bearer <token>',
      })
      const wrong = await fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })
      expect([path, wrong.status]).toEqual([path, 401])
      const right = await fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect([path, right.status === 401]).toEqual([path, false])
    }
    const tables = await fetch(`${w.url}/tables`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(((await tables.json()) as { name: string }[]).map((t) => t.name)).toEqual(['totals'])
  })

  it('refuses a request claiming to be forwarded without the token', async () => {
    const res = await fetch(`${w.url}/size`, {
      method: 'POST',
      body: 'x',
      headers: { 'x-stream-app-forwarded': '1' },
    })
    expect(res.status).toBe(401)
  })

  it("keeps /health, /metrics, the live page and the app's own routes open; protectMetrics guards /metrics", async () => {
    for (const path of ['/health', '/metrics', '/'])
      expect((await fetch(`${w.url}${path}`)).status).not.toBe(401)
    expect((await post(`${w.url}/size`, 'abc')).status).toBe(200)
    expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401)
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } }
    expect((await fetch(`${guarded.url}/metrics`, auth)).status).toBe(200)
    expect((await fetch(`${guarded.url}/health`)).status).not.toBe(401)
  })

  it('the typed client sends the token', async () => {
    const app = makeApp()
    const res = await client<typeof app>(w.url!, { token: TOKEN }).topics.summary.$get()
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ topics: 1 })
    expect((await client<typeof app>(w.url!).topics.summary.$get()).status).toBe(401)
    // Headers given as well are kept.
    const both = client<typeof app>(w.url!, { token: TOKEN, headers: () => ({ 'x-extra': '1' }) })
    expect((await both.topics.summary.$get()).status).toBe(200)
  })
})
