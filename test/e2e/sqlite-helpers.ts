/**
 * Shared pieces of the sqlite:// end-to-end tests: temp directories, HTTP reads
 * of a worker, Prometheus counters, waiting for a condition with the workers'
 * logs in the failure message, and reading a topic straight from the broker
 * file after the workers stop (to count duplicates and losses exactly).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, expect } from 'vitest'
import { openSqliteBroker } from '../../packages/sqlite/src/index.ts'
import { cli, getJson, killAll, until, type WorkerProcess } from './proc.ts'

export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** The counting app (see fixtures/sqlite-counter.ts). */
export const COUNTER = fixture('sqlite-counter.ts')

const dirs: string[] = []

/** A fresh directory: workers run with it as cwd, so `.stream-app/` lands there. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stream-app-e2e-'))
  dirs.push(d)
  return d
}

afterEach(async () => {
  await killAll()
})
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** The default broker file of a worker run with `cwd` = dir. */
export const brokerFile = (dir: string) => join(dir, '.stream-app', 'broker.sqlite')
/** The default store file of app `id` run with `cwd` = dir. */
export const storeFile = (dir: string, id: string) => join(dir, '.stream-app', id, 'store.sqlite')

export { getJson, until } from './proc.ts'

/** The last lines of each worker's log, for failure messages. */
export const logsOf =
  (...workers: WorkerProcess[]) =>
  () =>
    workers.map((w) => `--- worker ${w.pid}:\n${w.log().split('\n').slice(-40).join('\n')}`).join('\n')

/** `/metrics` as a map from `name{labels}` to value. */
export async function metrics(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

/**
 * Committed offset per partition of `topic` on this worker, from /metrics, when
 * every partition it is assigned has lag 0; undefined while there is lag.
 */
export async function caughtUp(base: string, topic: string): Promise<Map<number, number> | undefined> {
  const m = await metrics(base)
  const out = new Map<number, number>()
  for (const [k, v] of m) {
    const lag = k.match(/^stream_app_consumer_lag\{topic="([^"]+)",partition="(\d+)"\}$/)
    if (!lag || lag[1] !== topic) continue
    if (v !== 0) return undefined
    out.set(
      Number(lag[2]),
      m.get(`stream_app_consumer_committed_offset{topic="${topic}",partition="${lag[2]}"}`)!,
    )
  }
  return out
}

/** `/progress` of the counting app: this process's processed count. */
export async function progress(base: string): Promise<number> {
  return (await getJson<{ processed: number }>(`${base}/progress`)).body.processed
}

export interface TopicRecord {
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  /** JSON-parsed value (null for a tombstone) */
  readonly value: unknown
  readonly timestamp: number
}

/** Every record of a topic, read straight from the broker file (outside any consumer group). */
export async function readTopic(brokerPath: string, topic: string): Promise<TopicRecord[]> {
  const broker = openSqliteBroker({ path: brokerPath, maintenanceIntervalMs: 0 })
  try {
    const n = await broker.partitions(topic)
    if (n === undefined) throw new Error(`topic '${topic}' does not exist in ${brokerPath}`)
    const tps = Array.from({ length: n }, (_, partition) => ({ topic, partition }))
    const ends = new Map((await broker.endOffsets(tps)).map((e) => [e.partition, e.offset]))
    const starts = await broker.beginningOffsets(tps)
    const reader = broker.reader(starts)
    const out: TopicRecord[] = []
    const next = new Map(starts.map((s) => [s.partition, s.offset]))
    try {
      const behind = () =>
        tps.some(
          (tp) => Math.max(next.get(tp.partition)!, reader.position?.(tp) ?? 0) < ends.get(tp.partition)!,
        )
      const deadline = Date.now() + 30_000
      while (behind()) {
        if (Date.now() > deadline)
          throw new Error(`reading '${topic}' from ${brokerPath} did not reach the end`)
        const batches = await reader.fetch({ maxRecords: 10_000, maxWaitMs: 100 })
        for (const b of batches)
          for (const r of b.records) {
            next.set(r.partition, r.offset + 1)
            out.push({
              partition: r.partition,
              offset: r.offset,
              key: r.key === null ? null : Buffer.from(r.key).toString('utf8'),
              value: r.value === null ? null : JSON.parse(Buffer.from(r.value).toString('utf8')),
              timestamp: r.timestamp,
            })
          }
      }
    } finally {
      await reader.close()
    }
    return out
  } finally {
    await broker.close()
  }
}

/** A value of the counting app's `seen` sink. */
export interface Seen {
  readonly n: number
  readonly pid: number
  readonly partition: number
  readonly offset: number
}

export const readSeen = async (brokerPath: string): Promise<Seen[]> =>
  (await readTopic(brokerPath, 'seen')).map((r) => r.value as Seen)

/** How many times each n occurs. */
export function tally(ns: Iterable<number>): Map<number, number> {
  const m = new Map<number, number>()
  for (const n of ns) m.set(n, (m.get(n) ?? 0) + 1)
  return m
}

/** The range [from, to) as an array. */
export const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** Key names k0..k(n-1); the counting app's `produce` command keys number i as k<i % n>. */
export const keyNames = (n: number) => range(0, n).map((i) => `k${i}`)

/** Sends the numbers from..from+n-1, keyed k<i % keys>, through the counting app's own `produce` command. */
export function produceNumbers(
  dir: string,
  from: number,
  n: number,
  keys: number,
  env: Record<string, string> = {},
) {
  const r = cli(['produce', COUNTER, '--from', String(from), '--n', String(n), '--keys', String(keys)], {
    cwd: dir,
    env,
  })
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
}

/**
 * Waits until the worker has committed `total` records of `topic` (default
 * `numbers`) over `partitions` (default 4) assigned partitions, lag 0 on each;
 * resolves with the committed offsets.
 */
export async function allCommitted(
  w: WorkerProcess,
  total: number,
  options: { topic?: string; partitions?: number; others?: readonly WorkerProcess[] } = {},
): Promise<Map<number, number>> {
  const url = await w.url()
  const topic = options.topic ?? 'numbers'
  return until(
    `worker ${w.pid} to commit ${total} records of '${topic}'`,
    async () => {
      const c = await caughtUp(url, topic)
      return c && c.size === (options.partitions ?? 4) && [...c.values()].reduce((a, b) => a + b, 0) === total
        ? c
        : undefined
    },
    { timeoutMs: 45_000, context: logsOf(w, ...(options.others ?? [])) },
  )
}

/** The counts table of the counting app, read through GET /tables/counts/:key. */
export async function countsOf(url: string, keys: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const k of keys) out[k] = (await getJson<{ value: number }>(`${url}/tables/counts/${k}`)).body.value
  return out
}

/** Waits until a worker of the counting app has processed at least n values; resolves with its count. */
export async function processedAtLeast(w: WorkerProcess, n: number): Promise<number> {
  const url = await w.url()
  return until(
    `worker ${w.pid} to process ${n}`,
    async () => {
      const p = await progress(url)
      return p >= n ? p : undefined
    },
    { context: logsOf(w) },
  )
}

export const byPid = (seen: readonly Seen[], pid: number) => seen.filter((s) => s.pid === pid)
