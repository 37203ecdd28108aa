/**
 * Where a Kafka message's microseconds go: runs one workload of `--only kafka`
 * on a preloaded topic under V8's sampling profiler (started after the preload,
 * so only the run is profiled) and splits the process's CPU per message into
 * the threads (Node's main thread, librdkafka's, V8's helpers) and the main
 * thread's samples into the categories of the README's Performance section.
 *
 *   cd apps/bench && KAFKA_BROKERS=127.0.0.1:19092 node --import tsx src/kafka-profile.ts \
 *     raw|best|sa|wc [messages] [--save file.cpuprofile]
 *
 * It also prints the run's peak RSS, the RSS at its start and the peaks of the
 * V8 heap and of memory outside it (sampled every 50 ms).
 */
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { openKafkaBroker } from '@stream-app/kafka'
import {
  bestPassthrough,
  deleteTopics,
  type PassthroughOptions,
  preload,
  rawPassthrough,
  streamAppPassthrough,
  watch,
} from '@stream-app/kafka/bench'
import { preloadWords, runWordCount } from './kafka-wordcount.ts'
import { peakRssMb, resetPeakRss, rssMb, settle } from './report.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const threadName = (tid: string, comm: string): string =>
  tid === String(process.pid)
    ? 'main'
    : comm.startsWith('rdk:')
      ? 'librdkafka'
      : comm.startsWith('libuv')
        ? 'libuv pool'
        : 'V8 helpers (GC, compiler)'

/**
 * CPU seconds per thread (by tid, with its kind), read from /proc. Clients
 * that disconnect end their librdkafka threads, so a run is sampled every
 * 100 ms and each thread keeps its last reading.
 */
export class ThreadClock {
  private readonly last = new Map<string, { kind: string; secs: number }>()
  private readonly timer: NodeJS.Timeout

  constructor() {
    this.read()
    this.timer = setInterval(() => this.read(), 100)
  }

  read(): void {
    for (const tid of readdirSync('/proc/self/task')) {
      let stat: string
      try {
        stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      } catch {
        continue // the thread ended
      }
      const close = stat.lastIndexOf(')')
      const comm = stat.slice(stat.indexOf('(') + 1, close)
      const f = stat.slice(close + 2).split(' ')
      const secs = (Number(f[11]) + Number(f[12])) / 100 // USER_HZ
      this.last.set(tid, { kind: threadName(tid, comm), secs })
    }
  }

  /** Seconds per kind of thread. */
  totals(): Map<string, number> {
    const out = new Map<string, number>()
    for (const { kind, secs } of this.last.values()) out.set(kind, (out.get(kind) ?? 0) + secs)
    return out
  }

  stop(): Map<string, number> {
    clearInterval(this.timer)
    this.read()
    return this.totals()
  }
}

/** The category of a sample, from its stack (leaf first): the first frame that names one wins. */
const RULES: [string, (fn: string, url: string) => boolean][] = [
  ['GC', (fn) => fn === '(garbage collector)'],
  ['idle', (fn) => fn === '(idle)'],
  ['delivery reports', (fn, url) => /writer|producer/.test(url) && /delivery|onDelivery/.test(fn)],
  ['native outside JS (binding callbacks, libuv)', (fn) => fn === '(program)'],
  [
    'produce',
    (fn, url) =>
      fn === 'Producer' ||
      fn === 'produceOne' ||
      (/kafka-javascript.*producer/.test(url) && /produce/i.test(fn)),
  ],
  ['commit', (fn, url) => /commit|flush|sync/i.test(fn) && /kafka|commit\.ts|outbox/.test(url)],
  [
    'native consume',
    (fn, url) =>
      fn === 'KafkaConsumer' ||
      fn === 'consumeNow' ||
      (/kafka-javascript.*consumer/.test(url) && /consume/i.test(fn)),
  ],
  ['object creation', (fn, url) => /fetcher\.ts/.test(url) && /toBatches|toRecord|fromHeaders/.test(fn)],
  ['table / changelog', (_fn, url) => /tables?\.ts|changelog|sqlite/.test(url)],
  [
    'stream-app queue/handler/ack',
    (_fn, url) => /packages\/core|apps\/bench|packages\/kafka\/bench/.test(url),
  ],
  ['effect runtime', (_fn, url) => /node_modules\/.*effect/.test(url)],
  ['kafka adapter (other)', (_fn, url) => /packages\/kafka\/src/.test(url)],
  ['client binding (other)', (_fn, url) => /kafka-javascript/.test(url)],
]

export function categorize(p: Profile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const memo = new Map<number, string>()
  const catOf = (id: number): string => {
    const hit = memo.get(id)
    if (hit) return hit
    let cur: number | undefined = id
    let cat = 'other (node internals, timers, promises)'
    while (cur !== undefined) {
      const f = byId.get(cur)!.callFrame
      const rule = RULES.find(([, test]) => test(f.functionName, f.url))
      if (rule) {
        cat = rule[0]
        break
      }
      cur = parent.get(cur)
    }
    memo.set(id, cat)
    return cat
  }
  const out = new Map<string, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const c = catOf(p.samples[i]!)
    out.set(c, (out.get(c) ?? 0) + (p.timeDeltas[i] ?? 0) / 1e6)
  }
  return out
}

/** The run's CPU split: µs per message by thread and, for the main thread, by category. */
export async function profiled(
  n: number,
  go: () => Promise<void>,
  save?: string,
): Promise<{
  wallS: number
  threads: Map<string, number>
  categories: Map<string, number>
  peakRssMb: number
  /** RSS when the run started (what the preload left). */
  startRssMb: number
  /** Peaks (MB) of the V8 heap and of memory outside it, sampled every 50 ms. */
  mem: Record<string, number>
}> {
  settle()
  resetPeakRss()
  const startRssMb = rssMb()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  const clock = new ThreadClock()
  const mem = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 }
  const memTimer = setInterval(() => {
    const m = process.memoryUsage()
    for (const k of Object.keys(mem) as (keyof typeof mem)[])
      mem[k] = Math.max(mem[k], Math.round(m[k] / 2 ** 20))
  }, 50)
  const before = clock.totals()
  const t0 = performance.now()
  await session.post('Profiler.start')
  await go()
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile }
  const wallS = (performance.now() - t0) / 1000
  const after = clock.stop()
  clearInterval(memTimer)
  session.disconnect()
  if (save) writeFileSync(save, JSON.stringify(profile))
  const threads = new Map([...after].map(([k, v]) => [k, ((v - (before.get(k) ?? 0)) / n) * 1e6]))
  // Samples are wall time: on a shared machine the thread also waits to be scheduled. The busy
  // samples' shares are applied to the main thread's CPU time.
  const cats = categorize(profile)
  cats.delete('idle')
  const busy = [...cats.values()].reduce((a, b) => a + b, 0)
  const mainUs = threads.get('main') ?? 0
  const categories = new Map([...cats].map(([k, v]) => [k, (v / busy) * mainUs]))
  return { wallS, threads, categories, peakRssMb: peakRssMb(), startRssMb, mem }
}

async function main() {
  const [workload = 'sa', messagesArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
  const saveAt = process.argv.indexOf('--save')
  const save = saveAt > 0 ? process.argv[saveAt + 1] : undefined
  const n = Number(messagesArg ?? 1_000_000)
  const bootstrap = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092'
  const broker = await openKafkaBroker({ url: `kafka://${bootstrap}` })
  const id = randomUUID().slice(0, 8)
  const input = `bench-prof-in-${id}`
  const output = `bench-prof-out-${id}`
  const o: PassthroughOptions = { messages: n, partitions: 8, bootstrap }
  try {
    await broker.ensureTopics([input, output].map((name) => ({ name, partitions: 8 })))
    if (workload === 'wc') await preloadWords(broker, input, n)
    else await preload(broker, input, o)
    const go = async () => {
      if (workload === 'wc') {
        await runWordCount(bootstrap, input, n, 'at_least_once')
        return
      }
      const w = watch(broker, output, 8, n, 600_000)
      if (workload === 'raw') await rawPassthrough(o, input, output)
      else if (workload === 'best') await bestPassthrough(o, input, output)
      else {
        const rt = await streamAppPassthrough(o, input, output)
        await w
        await rt.stop()
      }
      await w
    }
    const r = await profiled(n, go, save)
    const fmt = (m: Map<string, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `  ${k.padEnd(40)} ${v.toFixed(2)} µs`)
        .join('\n')
    const total = [...r.threads.values()].reduce((a, b) => a + b, 0)
    process.stdout.write(
      `${workload}: ${n} messages in ${r.wallS.toFixed(1)} s (start-up included), ${(n / r.wallS).toFixed(0)}/s, peak RSS ${r.peakRssMb} MB (${r.startRssMb} MB at its start)\n` +
        `peaks (MB): ${Object.entries(r.mem)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}\n` +
        `CPU per message by thread (total ${total.toFixed(2)} µs):\n${fmt(r.threads)}\n` +
        `main thread by category (shares of its samples):\n${fmt(r.categories)}\n`,
    )
  } finally {
    await broker.close()
    await deleteTopics(bootstrap, [input, output])
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
