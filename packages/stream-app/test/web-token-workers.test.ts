/**
 * Two workers of one app on a sqlite:// broker, with the web token from
 * STREAM_APP_WEB_TOKEN: table queries and table routes asked of the worker
 * that does not hold the key are forwarded with the token and answered; the
 * owner refuses a forwarded request without it. A global table read from a
 * stream partitioned otherwise logs no co-partitioning warning, and /tables
 * shows each worker holding all of it: the partitions it owns and the ones it follows.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'

const TOKEN = 'workers-token-91c2'
const dir = mkdtempSync(join(tmpdir(), 'stream-app-token-'))
const Rate = Schema.Struct({ currency: Schema.String, rate: Schema.Number })
const Order = Schema.Struct({ id: Schema.String, currency: Schema.String, amount: Schema.Number })
const priced = new Map<string, number>()

const makeApp = () =>
  createApp({
    id: 'token',
    broker: `sqlite://${join(dir, 'broker.sqlite')}`,
    store: 'memory://',
    commitInterval: '50ms',
    web: { port: 0 },
    logLevel: 'warn',
  })
    .topic('words', { value: Schema.String, partitions: 4 })
    .topic('rates', { key: Schema.String, value: Rate, partitions: 4 })
    // Keyed by order id, 3 partitions: the currency's rate lives in any partition of the table.
    .topic('orders', { key: Schema.String, value: Order, partitions: 3 })
    .table('counts', { default: () => 0 })
    .table('rates', { default: () => 0, global: true })
    .agent('count', { from: 'words' }, async (words, ctx) => {
      for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
    })
    .agent('keep-rates', { from: 'rates' }, async (rates, ctx) => {
      for await (const r of rates) ctx.tables.rates.set(r.currency, r.rate)
    })
    .agent('price', { from: 'orders' }, async (orders, ctx) => {
      for await (const o of orders) priced.set(o.id, o.amount * ctx.tables.rates.get(o.currency))
    })
    .route('GET', '/count/:word', { table: 'counts', key: (c) => c.req.param('word') }, (c, ctx) =>
      c.json({
        count: ctx.tables.counts.get(c.req.param('word')),
        auth: c.req.header('authorization') ?? null,
      }),
    )

type AppWorker = Awaited<ReturnType<ReturnType<typeof makeApp>['start']>>
const auth = { headers: { authorization: `Bearer ${TOKEN}` } }

/** Polls fn until it returns something; after 20 s fails with what it waited for and the last value seen. */
const until = async <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => {
  const deadline = Date.now() + 20_000
  let last: unknown
  for (;;) {
    const v = await fn().catch((e: unknown) => {
      last = e
      return undefined
    })
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`waited 20 s for ${what}; last: ${String(last)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** The worker holds the key's partition (a read of a key held elsewhere is refused). */
const holds = (w: AppWorker, word: string) => {
  try {
    w.tables.counts.get(word)
    return true
  } catch {
    return false
  }
}

const WORDS = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape', 'kiwi']
const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY', 'CHF', 'SEK']
let a: AppWorker
let b: AppWorker
let stderr = ''
const write = process.stderr.write.bind(process.stderr)
const env = process.env.STREAM_APP_WEB_TOKEN

beforeAll(async () => {
  process.env.STREAM_APP_WEB_TOKEN = TOKEN
  // The workers log to stderr: kept to look for the co-partitioning warning.
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  }) as typeof process.stderr.write
  const app = makeApp()
  a = await app.start({ datadir: join(dir, 'a') })
  b = await app.start({ datadir: join(dir, 'b') })
  for (const w of [a, b])
    await until(`${w.url} ready`, async () =>
      (await fetch(`${w.url}/health`)).status === 200 ? true : undefined,
    )
})

afterAll(async () => {
  await a?.stop()
  await b?.stop()
  process.stderr.write = write
  if (env === undefined) delete process.env.STREAM_APP_WEB_TOKEN
  else process.env.STREAM_APP_WEB_TOKEN = env
  rmSync(dir, { recursive: true, force: true })
})

describe('two workers with a web token', { timeout: 60_000 }, () => {
  it('forward table queries and table routes to the key holder with the token', async () => {
    for (const w of WORDS) for (let i = 0; i < 2; i++) await a.topics.words.send(w, { key: w })
    await a.idle()
    await b.idle()
    let forwarded = 0
    for (const word of WORDS)
      for (const w of [a, b]) {
        // 503 while the group's membership settles after the second worker joined.
        const body = await until(`${word} through ${w.url}`, async () => {
          const res = await fetch(`${w.url}/tables/counts/${word}`, auth)
          return res.status === 200 ? await res.json() : undefined
        })
        expect(body).toEqual({ key: word, value: 2 })
        expect((await fetch(`${w.url}/tables/counts/${word}`)).status).toBe(401)
        // The app's own route needs no token from the client; the forward carries it, and a client's
        // own Authorization reaches the route as it came.
        const route = await fetch(`${w.url}/count/${word}`, { headers: { authorization: 'Basic YW5uOng=' } })
        expect(await route.json()).toEqual({ count: 2, auth: 'Basic YW5uOng=' })
        if (!holds(w, word)) forwarded++
      }
    expect(forwarded).toBeGreaterThan(0) // some keys really were held by the other worker
    // A request claiming to come from a worker, without the token, is refused by the owner.
    const forged = await fetch(`${a.url}/count/apple`, { headers: { 'x-stream-app-forwarded': '1' } })
    expect(forged.status).toBe(401)
  })

  it('read a global table from a differently partitioned stream without a warning; /tables shows owned and followed', async () => {
    for (const [i, currency] of CURRENCIES.entries())
      await a.topics.rates.send({ currency, rate: i + 1 }, { key: currency })
    await a.idle()
    await b.idle()
    for (const w of [a, b])
      await until(`every rate on ${w.url}`, async () => {
        const seen = CURRENCIES.map((c) => w.tables.rates.get(c))
        if (seen.every((r, i) => r === i + 1)) return true
        const tb = await (await fetch(`${w.url}/tables`, auth)).text()
        throw new Error(
          `rates seen: ${seen.join(',')}; other: ${CURRENCIES.map((c) => (w === a ? b : a).tables.rates.get(c))}; tables ${tb}; log: ${stderr.slice(-3000)}`,
        )
      })
    for (let i = 0; i < 12; i++)
      await a.topics.orders.send({ id: `o${i}`, currency: CURRENCIES[i % 6]!, amount: 10 }, { key: `o${i}` })
    await until('12 orders priced', async () => (priced.size === 12 ? true : undefined))
    expect([...priced.values()].sort((x, y) => x - y)).toEqual([
      10, 10, 20, 20, 30, 30, 40, 40, 50, 50, 60, 60,
    ])
    expect(stderr).not.toMatch(/table 'rates' is not co-partitioned/)

    type Info = { name: string; global: boolean; held: number[]; owned: number[]; followed: number[] }
    const rates = async (url: string) =>
      ((await (await fetch(`${url}/tables`, auth)).json()) as Info[]).find((t) => t.name === 'rates')!
    const [ra, rb] = [await rates(a.url!), await rates(b.url!)]
    for (const r of [ra, rb]) {
      expect(r.global).toBe(true)
      expect(r.held).toEqual([0, 1, 2, 3])
      expect([...r.owned, ...r.followed].sort()).toEqual([0, 1, 2, 3])
    }
    // Each partition is owned by exactly one of them and followed by the other.
    expect([...ra.owned, ...rb.owned].sort()).toEqual([0, 1, 2, 3])
    expect(ra.followed).toEqual(rb.owned)
  })
})
