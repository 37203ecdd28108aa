/**
 * The moving parts of the rebalance bench: `stream-app run` worker processes
 * of fixtures/rebalance-app.ts (each its own datadir, its log kept), a steady
 * producer that stamps each event with the time it was sent, and a
 * read_committed reader of `out` that notes when every output arrived, per
 * partition, from which output gaps and end-to-end latency are computed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Broker, ProduceRecord } from '@stream-app/core'
import { partitionForKey } from '@stream-app/core/runtime'

const BIN = fileURLToPath(new URL('../../../packages/stream-app/bin/stream-app.js', import.meta.url))
const APP = fileURLToPath(new URL('./fixtures/rebalance-app.ts', import.meta.url))

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline)
      throw new Error(
        `rebalance bench: timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}\n${context()}`,
      )
    await sleep(100)
  }
}

export interface WorkerEnv {
  readonly bootstrap: string
  readonly id: string
  readonly partitions: number
  readonly standby: number
  readonly protocol: 'consumer' | 'classic'
}

/** One `stream-app run` process. */
export class Worker {
  readonly child: ChildProcess
  text = ''
  private readonly exit: Promise<number | null>
  constructor(
    readonly name: string,
    datadir: string,
    env: WorkerEnv,
  ) {
    this.child = spawn(process.execPath, [BIN, 'run', APP, '--web-port', '0', '--datadir', datadir], {
      cwd: join(datadir, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        STREAM_APP_BROKER: `kafka://${env.bootstrap}`,
        STREAM_APP_JSON_LOGS: '',
        // the shared test broker heartbeats every 500 ms (scripts/kafka.sh)
        STREAM_APP_REBALANCE_SETTLE_MS: process.env.STREAM_APP_REBALANCE_SETTLE_MS ?? '1000',
        BENCH_REB_ID: env.id,
        BENCH_REB_PARTITIONS: String(env.partitions),
        BENCH_REB_STANDBY: String(env.standby),
        BENCH_REB_PROTOCOL: env.protocol,
      },
    })
    const add = (d: Buffer) => {
      this.text += d.toString('utf8')
    }
    this.child.stdout!.on('data', add)
    this.child.stderr!.on('data', add)
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }
  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }
  /**
   * Its web address once it says ready. A worker killed and started again
   * before the broker dropped its previous process waits (its consumer joins
   * again until the broker lets go of its id): that wait is part of the gap.
   */
  async url(timeoutMs = 120_000): Promise<string> {
    return until(
      `worker ${this.name} to print its web address`,
      () => {
        if (!this.alive()) throw new Error(`worker ${this.name} exited:\n${this.text.slice(-3000)}`)
        return /ready .*web=(http:\/\/[\d.:]+)/.exec(this.text)?.[1]
      },
      timeoutMs,
      () => this.text.slice(-3000),
    )
  }
  /** SIGTERM (a deploy's stop) and its exit code. */
  async stop(): Promise<number | null> {
    if (this.alive()) this.child.kill('SIGTERM')
    return this.exit
  }
  /** SIGKILL: a crash with no chance to commit or leave. */
  async kill(): Promise<void> {
    if (this.alive()) this.child.kill('SIGKILL')
    await this.exit
  }
  /** Log lines matching a pattern. */
  lines(re: RegExp): string[] {
    return this.text.split('\n').filter((l) => re.test(l))
  }
}

export interface Health {
  readonly status: string
  readonly group?: string
  readonly partitions: Record<string, number[]>
}

export async function health(url: string): Promise<{ code: number; body: Health }> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) })
  return { code: res.status, body: (await res.json()) as Health }
}

const enc = (s: string) => Buffer.from(s)

/** `count` events with distinct keys k<from>…, each in its key's partition, as fast as the producer takes them. */
export async function preload(broker: Broker, topic: string, partitions: number, count: number) {
  const producer = broker.producer()
  try {
    for (let i = 0; i < count; i += 20_000) {
      const batch: ProduceRecord[] = []
      for (let j = i; j < Math.min(count, i + 20_000); j++) {
        const key = enc(`k${j}`)
        const now = Date.now()
        batch.push({
          topic,
          partition: partitionForKey(key, partitions),
          key,
          value: enc(String(now)),
          timestamp: now,
        })
      }
      await producer.send(batch)
    }
  } finally {
    await producer.close()
  }
}

/** Events at a steady rate over `keys` keys, each stamped with its send time, until stopped. */
export function steadyLoad(broker: Broker, topic: string, partitions: number, keys: number, rate: number) {
  const producer = broker.producer()
  let sent = 0
  let failed: unknown
  let running = true
  const pending = new Set<Promise<unknown>>()
  const done = (async () => {
    const started = performance.now()
    while (running) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate)
      const batch: ProduceRecord[] = []
      for (; sent < due; sent++) {
        const key = enc(`k${(sent * 7919) % keys}`)
        const now = Date.now()
        batch.push({
          topic,
          partition: partitionForKey(key, partitions),
          key,
          value: enc(String(now)),
          timestamp: now,
        })
      }
      if (batch.length) {
        const p = producer.send(batch).catch((e: unknown) => (failed ??= e))
        pending.add(p)
        void p.finally(() => pending.delete(p))
      }
      await sleep(10)
    }
    await Promise.all(pending)
    await producer.close()
    if (failed) throw failed
  })()
  return {
    sent: () => sent,
    stop: async () => {
      running = false
      await done
      return sent
    },
  }
}

/**
 * Reads `out` with read_committed from the start: per partition, the times
 * outputs arrived (one entry per fetched batch), and for each output produced
 * after `measureFrom` its latency (arrival − the time it was sent).
 */
export function outputReader(broker: Broker, topic: string, partitions: number) {
  const reader = broker.reader(
    Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })),
    { readCommitted: true },
  )
  const arrivals: number[][] = Array.from({ length: partitions }, () => [])
  const latencies: { sentAt: number; ms: number }[] = []
  let total = 0
  let reading = true
  const loop = (async () => {
    while (reading)
      for (const b of await reader.fetch({ maxRecords: 10_000, maxWaitMs: 50 })) {
        const at = Date.now()
        arrivals[b.partition]!.push(at)
        total += b.records.length
        for (const r of b.records) {
          const sentAt = Number(Buffer.from(r.value!).toString('utf8'))
          latencies.push({ sentAt, ms: at - sentAt })
        }
      }
  })()
  return {
    arrivals,
    latencies,
    total: () => total,
    /** Partitions with an output after t. */
    flowingSince: (t: number) => arrivals.filter((a) => a.length && a[a.length - 1]! > t).length,
    close: async () => {
      reading = false
      await loop
      await reader.close()
    },
  }
}

/**
 * The longest stretch without output on a partition that overlaps [from, to]:
 * from the last arrival before `from` to the first after it, and so on until
 * the first arrival after `to`.
 */
export function longestGap(times: readonly number[], from: number, to: number): number {
  let prev = from
  for (const t of times) if (t <= from) prev = t
  let longest = 0
  for (const t of times) {
    if (t <= from) continue
    longest = Math.max(longest, t - prev)
    prev = t
    if (t > to) return longest
  }
  return Math.max(longest, Date.now() - prev)
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : Number.NaN
