/**
 * Benchmark: GET /tables/:table/:key on a worker whose table holds 100k keys,
 * against a bare hono route returning a constant, served by the same kind of
 * server in the same run. The load comes from a worker thread (its own event
 * loop, so on two cores client and server do not share one) over keep-alive
 * connections on 127.0.0.1, closed loop, a fixed number of requests split
 * into rounds that alternate between the two servers.
 *
 * Run: `tsx bench.ts [keys] [requests] [connections]` (prints JSON).
 */
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { createApp, type Table } from '@stream-app/core'
import { MemoryBroker, MemoryStore, makeLogger, resolveConfig, startRuntime } from '@stream-app/core/runtime'
import { Hono } from 'hono'
import { DEFAULT_TIMEOUTS, serveFetch, startWebServer } from './src/index.ts'

export interface TableLookupOptions {
  readonly keys?: number
  readonly requests?: number
  readonly connections?: number
}

export interface TableLookupResult {
  readonly tableRps: number
  readonly tableP99Ms: number
  readonly bareRps: number
  readonly bareP99Ms: number
  /** tableRps / bareRps */
  readonly ratio: number
}

interface LoadResult {
  readonly rps: number
  readonly p99Ms: number
  readonly errors: number
}

/** Plain JS for the load thread: `connections` loops share a request budget, each waits for its answer. */
const LOAD_THREAD = `
const { parentPort, workerData } = require('node:worker_threads')
const http = require('node:http')
const { url, paths, requests, connections } = workerData
const { hostname, port } = new URL(url)
const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
const one = (path) => new Promise((resolve) => {
  const req = http.request({ host: hostname, port, path, agent }, (res) => {
    res.resume()
    res.on('end', () => resolve(res.statusCode === 200))
  })
  req.on('error', () => resolve(false))
  req.end()
})
;(async () => {
  const latencies = new Float64Array(requests)
  let next = 0
  let errors = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < requests) {
      const i = next++
      const t0 = performance.now()
      if (!(await one(paths[i % paths.length]))) errors++
      latencies[i] = performance.now() - t0
    }
  }))
  const seconds = (performance.now() - started) / 1000
  latencies.sort()
  agent.destroy()
  parentPort.postMessage({
    rps: requests / seconds,
    p99Ms: latencies[Math.min(requests - 1, Math.floor(requests * 0.99))],
    errors,
  })
})()
`

function load(
  url: string,
  paths: readonly string[],
  requests: number,
  connections: number,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(LOAD_THREAD, { eval: true, workerData: { url, paths, requests, connections } })
    w.once('message', (m: LoadResult) => {
      resolve(m)
      void w.terminate()
    })
    w.once('error', reject)
  })
}

/** Rounds of equal size: throughput over their total time, p99 as the median of the rounds' p99. */
function combine(runs: readonly LoadResult[]): LoadResult {
  const seconds = runs.reduce((a, r) => a + 1 / r.rps, 0)
  const p99s = runs.map((r) => r.p99Ms).sort((a, b) => a - b)
  return {
    rps: runs.length / seconds,
    p99Ms: p99s[Math.floor(p99s.length / 2)]!,
    errors: runs.reduce((a, r) => a + r.errors, 0),
  }
}

export async function benchTableLookup(options: TableLookupOptions = {}): Promise<TableLookupResult> {
  const keys = options.keys ?? 100_000
  const requests = options.requests ?? 40_000
  const connections = options.connections ?? 32
  const log = makeLogger({ level: 'warn', name: 'bench' })

  const def = createApp({ id: 'web-bench', commitInterval: '1h' }).table('accounts', {
    default: () => 0,
  }).definition
  const rt = await startRuntime(def, {
    broker: new MemoryBroker(),
    store: new MemoryStore(),
    log,
    config: resolveConfig(def.config, { broker: 'memory://', store: 'memory://', web: { port: 0 } }),
    closeBroker: true,
    web: startWebServer,
  })
  const bareApp = new Hono().get('/bare', (c) => c.json({ ok: true }))
  const bare = await serveFetch((req) => bareApp.fetch(req), {
    host: '127.0.0.1',
    port: 0,
    timeouts: DEFAULT_TIMEOUTS,
    log,
  })
  try {
    const table = (rt.ctx.tables as Record<string, Table<string, number>>).accounts!
    for (let i = 0; i < keys; i++) table.set(`k${i}`, i)

    // The same pseudo-random key sequence every run, spread over the whole table.
    const paths: string[] = []
    let x = 12345
    for (let i = 0; i < 10_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31
      paths.push(`/tables/accounts/k${x % keys}`)
    }
    const warm = Math.min(5_000, requests)
    await load(rt.url!, paths, warm, connections)
    await load(bare.url, ['/bare'], warm, connections)

    // Interleaved rounds, so a burst of other load on the machine hits both sides alike.
    const rounds = 4
    const per = Math.ceil(requests / rounds)
    const bareRuns: LoadResult[] = []
    const tableRuns: LoadResult[] = []
    for (let r = 0; r < rounds; r++) {
      bareRuns.push(await load(bare.url, ['/bare'], per, connections))
      tableRuns.push(await load(rt.url!, paths, per, connections))
    }
    const b = combine(bareRuns)
    const t = combine(tableRuns)
    if (b.errors || t.errors)
      throw new Error(`benchmark requests failed: bare ${b.errors}, table ${t.errors}`)
    const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d
    return {
      tableRps: Math.round(t.rps),
      tableP99Ms: round(t.p99Ms),
      bareRps: Math.round(b.rps),
      bareP99Ms: round(b.p99Ms),
      ratio: round(t.rps / b.rps),
    }
  } finally {
    await bare.close()
    await rt.stop()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [keys, requests, connections] = process.argv.slice(2).map(Number)
  const result = await benchTableLookup({
    ...(keys ? { keys } : {}),
    ...(requests ? { requests } : {}),
    ...(connections ? { connections } : {}),
  })
  console.log(JSON.stringify(result, null, 2))
}
