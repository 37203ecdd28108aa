/**
 * The live page on GET /, as a user sees it: served by a real worker over real
 * HTTP, and rendered by a real headless browser (Debian's chromium, installed
 * by scripts/setup.sh) whose script polls the worker's JSON routes. The DOM
 * after the script ran must name the app's topics, agents, tables and sinks
 * with the worker's counts; a screenshot is kept as a test artifact. An app
 * that answers GET / itself keeps it.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createApp, Schema } from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Running, shop, startWeb } from './helpers.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SCREENSHOT = join(ROOT, '.cache', 'artifacts', 'live-page.png')

/** Runs Debian's chromium headless on `url`; a missing browser is a failure that says how to get one. */
function chromium(url: string, args: readonly string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'live-page-chromium-'))
  return new Promise<string>((resolve, reject) => {
    execFile(
      'chromium',
      [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-dev-shm-usage',
        `--user-data-dir=${profile}`,
        '--window-size=1200,900',
        '--virtual-time-budget=3000',
        ...args,
        url,
      ],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        rmSync(profile, { recursive: true, force: true })
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
          reject(
            new Error(
              'chromium is not installed: the live page test needs a real browser (bash scripts/setup.sh installs it)',
            ),
          )
        else if (err) reject(new Error(`chromium failed: ${err.message}\n${stderr}`))
        else resolve(stdout)
      },
    )
  })
}

/** The text of the element whose data-`attr` is `value` in serialized HTML (the first text inside it). */
const dataText = (dom: string, attr: string, value: string): string | undefined =>
  new RegExp(`data-${attr}="${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^>]*>([^<]*)<`).exec(dom)?.[1]

describe('the live page in a headless browser', () => {
  let w: Running
  beforeAll(async () => {
    w = await startWeb(shop().definition)
    const orders = w.rt.topicHandles.orders!
    for (const [i, customer, amount] of [
      [1, 'alice', 50],
      [2, 'alice', 300],
      [3, 'bob', 20],
      [4, 'carol', 150],
    ] as const)
      await orders.send({ id: String(i), customer, amount }, { key: customer })
    await w.rt.idle()
  })
  afterAll(() => w.stop())

  it('renders topology, counts, lag and recovery from the live JSON once its script ran', async () => {
    const served = await (await fetch(`${w.url}/`)).text()
    // The page carries no data itself: every name below was put there by the script.
    expect(served).not.toContain('revenue')

    const dom = await chromium(`${w.url}/`, ['--dump-dom'])
    expect(dom).toContain('id="topics"')
    for (const topic of ['orders']) expect(dom).toContain(`data-topic="${topic}"`)
    expect(dom).toContain('data-agent="track"')
    for (const table of ['revenue', 'scores', 'pairs', 'per-minute'])
      expect(dom).toContain(`data-table="${table}"`)
    expect(dom).toContain('data-sink="big-orders"')
    // What each is for, as the app describes it.
    for (const d of [
      'Orders as the shop takes them',
      'Sums revenue; passes big orders on',
      'Revenue per customer',
    ])
      expect(dom).toContain(`<p class="describe">${d}</p>`)

    expect(Number(dataText(dom, 'of', 'agent.track.consumed'))).toBe(4)
    expect(Number(dataText(dom, 'of', 'agent.track.yielded'))).toBe(2)
    expect(Number(dataText(dom, 'of', 'topic.orders.in'))).toBe(4)
    expect(Number(dataText(dom, 'of', 'sink.big-orders.out'))).toBe(2)
    expect(Number(dataText(dom, 'of', 'table.revenue.rows'))).toBe(3)
    // A rate needs two polls: the script polled more than once within the virtual time.
    expect(dataText(dom, 'of', 'agent.track.rate')).toMatch(/^\d+(\.\d)?\/s$/)

    // One lag row per assigned source partition, and the worker's state.
    expect(dom).toContain('data-lag="orders.0"')
    expect(dom).toContain('data-lag="orders.1"')
    expect(dom).toMatch(/id="state"[^>]*>running</)
    expect(dom).toContain('no recovery in progress')
    // The last poll succeeded (a failed one says so there instead).
    expect(dom).toMatch(/id="updated"[^>]*>updated /)
  })

  it('takes a screenshot of it (kept in .cache/artifacts)', async () => {
    mkdirSync(join(ROOT, '.cache', 'artifacts'), { recursive: true })
    rmSync(SCREENSHOT, { force: true })
    await chromium(`${w.url}/`, [`--screenshot=${SCREENSHOT}`])
    const png = readFileSync(SCREENSHOT)
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    // IHDR: the window's size.
    expect(png.readUInt32BE(16)).toBe(1200)
    expect(png.readUInt32BE(20)).toBe(900)
    expect(png.length).toBeGreaterThan(20_000)
  })
})

describe('the live page of a worker with a web token', () => {
  const TOKEN = 'live-page-token-5e1'
  let w: Running
  beforeAll(async () => {
    w = await startWeb(shop().definition, { web: { token: TOKEN } })
  })
  afterAll(() => w.stop())

  it('reads its data with the token from its address (#token=), and says it needs one without', async () => {
    expect((await fetch(`${w.url}/tables`)).status).toBe(401)
    const dom = await chromium(`${w.url}/#token=${TOKEN}`, ['--dump-dom'])
    for (const table of ['revenue', 'scores']) expect(dom).toContain(`data-table="${table}"`)
    expect(dom).toMatch(/id="updated"[^>]*>updated /)

    const refused = await chromium(`${w.url}/`, ['--dump-dom'])
    expect(refused).not.toContain('data-table="revenue"')
    expect(refused).toMatch(
      /id="updated"[^>]*>[^<]*needs its web token: open this page as \/#token=&lt;token&gt;/,
    )
  })
})

describe('GET / over HTTP', () => {
  it('is the live page: HTML with a CSP that admits only its own script and style', async () => {
    const w = await startWeb(shop().definition)
    try {
      const res = await fetch(`${w.url}/`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/)
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("default-src 'none'")
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/)
      expect(csp).toContain("connect-src 'self'")
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      const html = await res.text()
      expect(html).toMatch(/^<!doctype html>/)
      expect(html).not.toContain('innerHTML')
      expect((await fetch(`${w.url}/`, { method: 'HEAD' })).status).toBe(200)
    } finally {
      await w.stop()
    }
  })

  it("leaves / to an app that answers it: the app's route wins, with no warning", async () => {
    const app = createApp({ id: 'own-root' })
      .topic('in', { value: Schema.String, partitions: 1 })
      .agent('noop', { from: 'in' }, async (s) => {
        for await (const _ of s);
      })
      .route('GET', '/', (c) => c.json({ mine: true }))
    const w = await startWeb(app.definition)
    try {
      const res = await fetch(`${w.url}/`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.headers.get('content-security-policy')).toBeNull()
      expect(await res.json()).toEqual({ mine: true })
      expect(w.logs.join('\n')).not.toContain('shadowed')
      // The page's data is still served.
      expect((await fetch(`${w.url}/agents`)).status).toBe(200)
    } finally {
      await w.stop()
    }
  })

  it("leaves the page's data routes to an app that answers them, but not the contract's built-ins", async () => {
    const app = createApp({ id: 'own-lag' })
      .topic('in', { key: Schema.String, value: Schema.String, partitions: 1 })
      .table('t', { default: () => 0 })
      .agent('noop', { from: 'in' }, async (s) => {
        for await (const _ of s);
      })
      .route('GET', '/lag', (c) => c.json({ mine: 'lag' }))
      .route('GET', '/tables', (c) => c.json({ mine: 'tables' }))
      .route('GET', '/health', (c) => c.json({ mine: 'health' }))
    const w = await startWeb(app.definition)
    try {
      expect(await (await fetch(`${w.url}/lag`)).json()).toEqual({ mine: 'lag' })
      expect(await (await fetch(`${w.url}/tables`)).json()).toEqual({ mine: 'tables' })
      // The built-in /health wins over the app's: its body says the worker state, not the app's 'mine'.
      expect(await (await fetch(`${w.url}/health`)).json()).toMatchObject({ state: 'running' })
      expect(await (await fetch(`${w.url}/tables/t/k`)).json()).toEqual({ key: 'k', value: 0 })
      expect(Array.isArray(await (await fetch(`${w.url}/agents`)).json())).toBe(true)
      const logs = w.logs.join('\n')
      expect(logs).toContain("route GET /lag is the app's")
      expect(logs).toContain('route GET /health is shadowed by the built-in route')
      expect(logs).not.toContain('route GET /tables is shadowed')
    } finally {
      await w.stop()
    }
  })
})
