/**
 * Shared pieces of the kafka:// end-to-end tests: the test broker's address,
 * unique ids (topic and group names are global on a shared broker), worker
 * processes of the fixture apps in their own temp dirs, the CLI run without
 * blocking (a blocked test process would stop draining the workers' pipes),
 * and reading whole topics back with read_committed for the final checks.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Broker, BrokerRecord } from '@stream-app/core'
import { inject } from 'vitest'
import { openKafkaBroker } from '../../packages/kafka/src/index.ts'
import { BIN, startWorker, type WorkerProcess } from './proc.ts'

export const COUNTER_APP = fileURLToPath(new URL('./fixtures/kafka-counter.ts', import.meta.url))
export const TABLETEST_APP = fileURLToPath(new URL('./fixtures/kafka-tabletest.ts', import.meta.url))

/** host:port of the broker the root globalSetup started (or KAFKA_BROKERS). */
export function bootstrap(): string {
  const b = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS
  if (!b) throw new Error('no Kafka broker: run through the root vitest config or set KAFKA_BROKERS')
  return b
}

/** An id no other test or earlier run uses: app id, hence group, topic and changelog names. */
export const uniq = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export interface AppEnv {
  readonly [name: string]: string
}

/** `stream-app run <app>` with its own datadir and a free web port, in `cwd`. */
export function runWorker(
  app: string,
  name: string,
  cwd: string,
  env: AppEnv,
  extra: readonly string[] = [],
): WorkerProcess {
  return startWorker(
    ['run', app, '--web-port', '0', '--datadir', join(cwd, name), ...extra],
    { STREAM_APP_BROKER: `kafka://${bootstrap()}`, ...env },
    cwd,
  )
}

/** Runs the CLI to completion without blocking the event loop (workers keep being drained). */
export function cliAsync(
  args: readonly string[],
  options: { env?: AppEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STREAM_APP_BROKER: `kafka://${bootstrap()}`, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    })
    // Never outlive the test process (a test timing out before timeoutMs would leave it running).
    const reap = () => child.kill('SIGKILL')
    process.once('exit', reap)
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `stream-app ${args.join(' ')} did not finish in ${options.timeoutMs ?? 120_000}ms:\n${err}`,
        ),
      )
    }, options.timeoutMs ?? 120_000)
    child.on('exit', (code) => {
      process.off('exit', reap)
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })
}

export { getJson, until } from './proc.ts'

/** How long and how often the Kafka tests poll by default (a rebalance or recovery takes seconds). */
export const KAFKA_POLL = { timeoutMs: 60_000, everyMs: 250 } as const

export const openBroker = (url = `kafka://${bootstrap()}`): Promise<Broker> =>
  openKafkaBroker({ url, clientId: 'e2e-check' })

/**
 * Every record of a topic, oldest first per partition, up to the end offsets
 * at the time of the call. With readCommitted the reader stops at the last
 * stable offset, so this waits until open transactions are decided.
 */
export async function readTopic(
  broker: Broker,
  topic: string,
  options: { readCommitted?: boolean; timeoutMs?: number } = {},
): Promise<BrokerRecord[]> {
  const partitions = await broker.partitions(topic)
  if (partitions === undefined) throw new Error(`topic '${topic}' does not exist`)
  const tps = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }))
  const ends = new Map((await broker.endOffsets(tps)).map((e) => [e.partition, e.offset]))
  const begins = await broker.beginningOffsets(tps)
  const todo = begins.filter((b) => b.offset < ends.get(b.partition)!)
  const out: BrokerRecord[] = []
  if (!todo.length) return out
  const reader = broker.reader(todo, options.readCommitted ? { readCommitted: true } : {})
  const reached = new Map(todo.map((t) => [t.partition, t.offset]))
  const deadline = Date.now() + (options.timeoutMs ?? 90_000)
  try {
    while ([...reached].some(([p, o]) => o < ends.get(p)!)) {
      if (Date.now() > deadline)
        throw new Error(
          `reading '${topic}': stuck at ${JSON.stringify([...reached])} of ${JSON.stringify([...ends])}`,
        )
      for (const b of await reader.fetch({ maxRecords: 10_000, maxWaitMs: 200 })) {
        for (const r of b.records) if (r.offset < ends.get(b.partition)!) out.push(r)
        reached.set(b.partition, b.records[b.records.length - 1]!.offset + 1)
      }
      // Transaction markers are not records: the reader's position moves past them.
      for (const [p, o] of reached) {
        const pos = reader.position?.({ topic, partition: p })
        if (pos !== undefined && pos > o) reached.set(p, pos)
      }
    }
  } finally {
    await reader.close()
  }
  return out
}

export const text = (u: Uint8Array | null): string | null =>
  u === null ? null : Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8')

/** The last value per key of a changelog, as a table (tombstones delete). */
export function replayChangelog(records: readonly BrokerRecord[]): Map<string, unknown> {
  const table = new Map<string, unknown>()
  for (const r of records) {
    const k = text(r.key)
    if (k === null) continue
    const v = text(r.value)
    if (v === null) table.delete(k)
    else table.set(k, JSON.parse(v))
  }
  return table
}

/** Log lines of a worker matching a pattern (for reports and assertions on assignment and recovery). */
export const lines = (w: WorkerProcess, pattern: RegExp): string[] =>
  w
    .log()
    .split('\n')
    .filter((l) => pattern.test(l))

/** Rejects with the workers' recent log lines appended, so a failed wait says what the workers did. */
export async function explained<T>(
  p: Promise<T>,
  workers: readonly WorkerProcess[],
  chars = 8000,
): Promise<T> {
  try {
    return await p
  } catch (e) {
    // Connection failures while brokers are away would fill the budget: what the workers did is the rest.
    const noise = /Connect to \S+ failed|broker transport failure|all broker connections are down/
    const logs = workers
      .map((w) => {
        const kept = w
          .log()
          .split('\n')
          .filter((l) => !noise.test(l))
          .join('\n')
        return `--- worker pid ${w.pid}:\n${kept.slice(-chars)}`
      })
      .join('\n')
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}`)
  }
}
