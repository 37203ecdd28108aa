/**
 * Passthrough benchmark on a real broker, the runs in one process, one after
 * the other, on the same preloaded input, in alternating rounds with a ceiling
 * run before and after every stream-app run (the broker shares this machine's
 * cores with the benchmark, whose speed drifts; apps/bench pairs the runs):
 *  - ceiling: a hand-written loop with @confluentinc/kafka-javascript alone
 *    (group consumer, batch consume → produce without awaiting, delivery reports);
 *  - best: the best loop the client allows, with stream-app's settings and
 *    batching and no delivery report per record (bestPassthrough);
 *  - stream-app: topic → agent → topic through startRuntime on the kafka:// broker.
 * Throughput is N / (t_last − t_first) where the times are when the output's end
 * offsets first moved and when they reached N (polled every 50 ms), so start-up
 * and group join are excluded from both.
 *
 *   KAFKA_BROKERS=127.0.0.1:19092 tsx packages/kafka/bench.ts [messages] [partitions]
 */
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import kafka from '@confluentinc/kafka-javascript'
import { type Broker, createApp, Schema } from '@stream-app/core'
import { DEFAULT_MAX_POLL_RECORDS } from '@stream-app/core/runtime'
import { consumerDefaults } from './src/fetcher.ts'
import { openKafkaBroker, startKafkaRuntime } from './src/index.ts'
import { producerDefaults } from './src/producer.ts'

export interface PassthroughOptions {
  readonly messages: number
  readonly partitions: number
  /** host:port of the broker */
  readonly bootstrap: string
  /** value size in bytes (default 100) */
  readonly valueBytes?: number
  /** which runs to do (default all three; fewer for profiling) */
  readonly runs?: readonly ('ceiling' | 'best' | 'adapter' | 'streamApp')[]
  /** rounds of the runs, alternating (default 2) */
  readonly rounds?: number
  /** Peak RSS of each stream-app run: reset before it, read after it (MB). */
  readonly peakRss?: { readonly reset: () => void; readonly read: () => number }
  /**
   * Each stream-app run in a process of its own (as a worker runs), so its
   * peak RSS is its own and not what the preload and earlier runs left.
   */
  readonly streamAppInChild?: boolean
  /**
   * Other passthroughs run in each round after stream-app's, on the same input
   * (e.g. Kafka Streams): each copies `input` to `output` and resolves; its
   * rate is measured on the output topic like the others'.
   */
  readonly others?: Readonly<Record<string, (input: string, output: string) => Promise<void>>>
}

/** msg/s of each run, in order; one ceiling run more than rounds (before and after each stream-app run). */
export interface PassthroughResult {
  readonly messages: number
  readonly partitions: number
  /** hand-written @confluentinc/kafka-javascript consume → produce loop */
  readonly ceiling: number[]
  /** the Broker port alone (GroupConsumer.fetch → Producer.write, no runtime) */
  readonly adapter: number[]
  /** the best loop the client allows (bestPassthrough) */
  readonly best: number[]
  /** stream-app topic → agent → topic on kafka:// */
  readonly streamApp: number[]
  /** peak RSS (MB) of each stream-app run, when peakRss is given */
  readonly streamAppPeakRssMb: number[]
  /** msg/s of each of `others`' runs, by name */
  readonly others: Record<string, number[]>
  readonly preloadMsgsPerSec: number
}

const sum = (xs: readonly { offset: number }[]) => xs.reduce((a, x) => a + x.offset, 0)

/** Waits until the topic holds n records; returns when its end offsets first moved and when they reached n. */
export async function watch(broker: Broker, topic: string, partitions: number, n: number, timeoutMs: number) {
  const tps = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }))
  let first = 0
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const total = sum(await broker.endOffsets(tps))
    const now = performance.now()
    if (total > 0 && !first) first = now
    if (total >= n) return { first, last: now }
    if (Date.now() > deadline) throw new Error(`${topic}: ${total} of ${n} records after ${timeoutMs}ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function preload(broker: Broker, topic: string, o: PassthroughOptions): Promise<number> {
  const value = Buffer.alloc(o.valueBytes ?? 100, 'x')
  const t0 = performance.now()
  const chunk = 50_000
  for (let i = 0; i < o.messages; i += chunk) {
    const batch = []
    for (let j = i; j < Math.min(o.messages, i + chunk); j++)
      batch.push({
        topic,
        partition: j % o.partitions,
        key: Buffer.from(`key-${String(j % 10_000).padStart(12, '0')}`),
        value,
        timestamp: Date.now(),
      })
    await broker.producer().send(batch)
  }
  return o.messages / ((performance.now() - t0) / 1000)
}

/** The ceiling: librdkafka through the low-level API only, as tight as we can write it. */
export async function rawPassthrough(o: PassthroughOptions, input: string, output: string): Promise<void> {
  const common = { 'bootstrap.servers': o.bootstrap }
  const producer = new kafka.Producer({
    ...common,
    acks: -1,
    'enable.idempotence': true,
    'linger.ms': 5,
    'batch.num.messages': 10_000,
    'queue.buffering.max.messages': 500_000,
    dr_cb: true,
  })
  let delivered = 0
  producer.on('delivery-report', () => {
    delivered++
  })
  await new Promise<void>((res, rej) => producer.connect({}, (e) => (e ? rej(e) : res())))
  producer.setPollInBackground(true)
  const consumer = new kafka.KafkaConsumer({
    ...common,
    'group.id': `bench-raw-${randomUUID()}`,
    'enable.auto.commit': false,
    'auto.offset.reset': 'earliest',
    'partition.assignment.strategy': 'range',
  })
  await new Promise<void>((res, rej) => consumer.connect({}, (e) => (e ? rej(e) : res())))
  consumer.setDefaultConsumeTimeout(100)
  consumer.subscribe([input])
  let consumed = 0
  let lastCommit = Date.now()
  while (consumed < o.messages) {
    const msgs = await new Promise<kafka.Message[]>((res, rej) =>
      consumer.consume(5000, (e, m) => (e ? rej(e) : res(m))),
    )
    for (const m of msgs) {
      for (;;) {
        try {
          producer.produce(output, m.partition, m.value, m.key, m.timestamp)
          break
        } catch {
          await new Promise((r) => setTimeout(r, 1)) // queue full: let deliveries drain
        }
      }
    }
    consumed += msgs.length
    if (Date.now() - lastCommit > 1000 && msgs.length) {
      consumer.commit()
      lastCommit = Date.now()
    }
  }
  while (delivered < o.messages) await new Promise((r) => setTimeout(r, 5))
  consumer.commit()
  await new Promise<void>((r) => consumer.disconnect(() => r()))
  await new Promise<void>((r) => producer.disconnect(() => r()))
}

/**
 * The best loop the client allows: the settings and batching stream-app ends up
 * using (its prefetch bounds and fetch settings, consume of up to its default
 * maxPollRecords with a zero timeout woken by librdkafka's
 * queue-non-empty callback, the same producer settings), and no delivery
 * report per record: librdkafka reports
 * failures only, and once per commit interval a flush proves everything
 * produced before it durable, then the consumed offsets are committed.
 */
export async function bestPassthrough(o: PassthroughOptions, input: string, output: string): Promise<void> {
  const common = { 'bootstrap.servers': o.bootstrap }
  const producer = new kafka.Producer({
    ...common,
    ...producerDefaults,
    'delivery.report.only.error': true,
    dr_cb: true,
  } as never)
  let failure: unknown
  producer.on('delivery-report', (err) => {
    if (err) failure = err
  })
  await new Promise<void>((res, rej) => producer.connect({}, (e) => (e ? rej(e) : res())))
  producer.setPollInBackground(true)
  let nonEmpty = true
  let wake: (() => void) | undefined
  const consumer = new kafka.KafkaConsumer({
    ...common,
    ...consumerDefaults,
    'group.id': `bench-best-${randomUUID()}`,
    'group.protocol': 'consumer',
    'group.remote.assignor': 'range',
    'auto.offset.reset': 'earliest',
    queue_non_empty_cb: () => {
      nonEmpty = true
      wake?.()
    },
  } as never)
  await new Promise<void>((res, rej) => consumer.connect({}, (e) => (e ? rej(e) : res())))
  consumer.setDefaultConsumeTimeout(0)
  ;(
    consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }
  ).setDefaultIsTimeoutOnlyForFirstMessage(true)
  consumer.subscribe([input])
  const flush = () => new Promise<void>((res, rej) => producer.flush(30_000, (e) => (e ? rej(e) : res())))
  const next = new Map<number, number>()
  const commit = () => {
    if (failure) throw failure
    if (next.size)
      consumer.commit([...next].map(([partition, offset]) => ({ topic: input, partition, offset })))
  }
  let consumed = 0
  let lastCommit = Date.now()
  while (consumed < o.messages) {
    nonEmpty = false
    const msgs = await new Promise<kafka.Message[]>((res, rej) =>
      consumer.consume(DEFAULT_MAX_POLL_RECORDS, (e, m) => (e ? rej(e) : res(m))),
    )
    if (msgs.length === 0) {
      if (!nonEmpty)
        await new Promise<void>((r) => {
          const t = setTimeout(r, 100)
          wake = () => {
            clearTimeout(t)
            r()
          }
        })
      wake = undefined
      continue
    }
    for (const m of msgs) {
      for (;;) {
        try {
          producer.produce(output, m.partition, m.value, m.key, m.timestamp)
          break
        } catch {
          await new Promise((r) => setTimeout(r, 2)) // queue full: let librdkafka send
        }
      }
      next.set(m.partition, m.offset + 1)
    }
    consumed += msgs.length
    if (Date.now() - lastCommit >= 1000) {
      await flush()
      commit()
      lastCommit = Date.now()
    }
  }
  await flush()
  commit()
  await new Promise<void>((r) => consumer.disconnect(() => r()))
  await new Promise<void>((r) => producer.disconnect(() => r()))
}

/** Deletes the run's topics (the broker is shared). */
export async function deleteTopics(bootstrap: string, topics: readonly string[]): Promise<void> {
  const admin = kafka.AdminClient.create({ 'bootstrap.servers': bootstrap })
  try {
    await Promise.all(topics.map((t) => new Promise<void>((r) => admin.deleteTopic(t, 30_000, () => r()))))
  } finally {
    admin.disconnect()
  }
}

/** The adapter alone (no runtime): GroupConsumer.fetch → Producer.write through the Broker port (what sinks use). */
async function adapterPassthrough(o: PassthroughOptions, input: string, output: string): Promise<void> {
  const broker = await openKafkaBroker({ url: `kafka://${o.bootstrap}` })
  const consumer = broker.groupConsumer({
    groupId: `bench-port-${randomUUID()}`,
    topics: [input],
    listener: { onAssign: async () => {}, onRevoke: async () => {} },
  })
  await consumer.start()
  const producer = broker.producer()
  let consumed = 0
  const inflight = new Set<Promise<unknown>>()
  while (consumed < o.messages) {
    const batches = await consumer.fetch({ maxRecords: DEFAULT_MAX_POLL_RECORDS, maxWaitMs: 250 })
    const out = []
    for (const b of batches)
      for (const r of b.records)
        out.push({
          topic: output,
          partition: r.partition,
          key: r.key,
          value: r.value,
          timestamp: r.timestamp,
        })
    consumed += out.length
    const p = producer.write!(out)
    inflight.add(p)
    void p.then(() => inflight.delete(p))
  }
  producer.sync!()
  await Promise.all(inflight)
  await consumer.close()
  await broker.close()
}

/** The same passthrough as a stream-app app on the kafka:// broker. */
export async function streamAppPassthrough(o: PassthroughOptions, input: string, output: string) {
  const url = `kafka://${o.bootstrap}`
  const app = createApp({ id: `bench-sa-${randomUUID().slice(0, 8)}`, commitInterval: '1s' })
    // Run-unique names typed as two distinct literals for the typed builder.
    .topic(input as 'in', { value: Schema.Unknown, codec: 'raw', partitions: o.partitions })
    .topic(output as 'out', { value: Schema.Unknown, codec: 'raw', partitions: o.partitions })
    .agent('pass', { from: input as 'in', sink: [output as 'out'] }, async function* (values) {
      for await (const v of values) yield v
    })
  return startKafkaRuntime(app.definition, { url })
}

export async function benchKafkaPassthrough(o: PassthroughOptions): Promise<PassthroughResult> {
  const broker = await openKafkaBroker({ url: `kafka://${o.bootstrap}` })
  const run = randomUUID().slice(0, 8)
  const input = `bench-in-${run}`
  const timeoutMs = Math.max(120_000, o.messages / 5)
  const runs = new Set(o.runs ?? ['ceiling', 'adapter', 'streamApp'])
  const rounds = o.rounds ?? 2
  const outputs = Array.from({ length: rounds + 1 }, (_, i) => ({
    raw: `bench-raw-out-${run}-${i}`,
    best: `bench-best-out-${run}-${i}`,
    sa: `bench-sa-out-${run}-${i}`,
    port: `bench-port-out-${run}-${i}`,
    others: Object.keys(o.others ?? {}).map((name) => `bench-${name}-out-${run}-${i}`),
  }))
  try {
    await broker.ensureTopics(
      [input, ...outputs.flatMap((x) => [x.raw, x.best, x.sa, x.port, ...x.others])].map((name) => ({
        name,
        partitions: o.partitions,
      })),
    )
    const preloadMsgsPerSec = await preload(broker, input, o)

    const rate = (t: { first: number; last: number }) => o.messages / ((t.last - t.first) / 1000)
    const ceiling: number[] = []
    const best: number[] = []
    const adapter: number[] = []
    const streamApp: number[] = []
    const streamAppPeakRssMb: number[] = []
    const others: Record<string, number[]> = {}
    for (const [i, out] of outputs.entries()) {
      if (runs.has('ceiling')) {
        const w = watch(broker, out.raw, o.partitions, o.messages, timeoutMs)
        await rawPassthrough(o, input, out.raw)
        ceiling.push(rate(await w))
      }
      if (i === rounds) break // the last round is the closing ceiling run
      if (runs.has('best')) {
        const w = watch(broker, out.best, o.partitions, o.messages, timeoutMs)
        await bestPassthrough(o, input, out.best)
        best.push(rate(await w))
      }
      if (runs.has('adapter')) {
        const w = watch(broker, out.port, o.partitions, o.messages, timeoutMs)
        await adapterPassthrough(o, input, out.port)
        adapter.push(rate(await w))
      }
      if (runs.has('streamApp')) {
        const w = watch(broker, out.sa, o.partitions, o.messages, timeoutMs)
        if (o.streamAppInChild) {
          const peak = await streamAppInChild(o, input, out.sa)
          streamApp.push(rate(await w))
          streamAppPeakRssMb.push(peak)
        } else {
          o.peakRss?.reset()
          const rt = await streamAppPassthrough(o, input, out.sa)
          streamApp.push(rate(await w))
          if (o.peakRss) streamAppPeakRssMb.push(o.peakRss.read())
          await rt.stop()
        }
      }
      for (const [j, [name, copy]] of Object.entries(o.others ?? {}).entries()) {
        const w = watch(broker, out.others[j]!, o.partitions, o.messages, timeoutMs)
        await copy(input, out.others[j]!)
        ;(others[name] ??= []).push(Math.round(rate(await w)))
      }
    }
    return {
      messages: o.messages,
      partitions: o.partitions,
      ceiling: ceiling.map(Math.round),
      best: best.map(Math.round),
      adapter: adapter.map(Math.round),
      streamApp: streamApp.map(Math.round),
      streamAppPeakRssMb,
      others,
      preloadMsgsPerSec: Math.round(preloadMsgsPerSec),
    }
  } finally {
    await broker.close()
    await deleteTopics(o.bootstrap, [
      input,
      ...outputs.flatMap((x) => [x.raw, x.best, x.sa, x.port, ...x.others]),
    ])
  }
}

/** This process's peak RSS in MB (Linux; 0 elsewhere). */
function ownPeakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    return m ? Math.round(Number(m[1]) / 1024) : 0
  } catch {
    return 0
  }
}

const CHILD_FLAG = '--stream-app-child'

/**
 * Runs a bench module (`file`, under this process's loader flags) in a child
 * process, so its peak RSS is its own; resolves with what it printed once it
 * exits 0 and `expect` matches its output (its match), rejects otherwise.
 */
export async function runInChild(
  file: string,
  args: readonly string[],
  expect: RegExp,
  what: string,
): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, [...process.execArgv, file, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  const m = expect.exec(out)
  if (code !== 0 || !m) throw new Error(`${what}'s process ended with ${code}: ${out.trim()}`)
  return m
}

/** Runs streamAppPassthrough in a child process until the output holds every record; returns its peak RSS (MB). */
async function streamAppInChild(o: PassthroughOptions, input: string, output: string): Promise<number> {
  const args = [CHILD_FLAG, o.bootstrap, input, output, String(o.messages), String(o.partitions)]
  const peak = await runInChild(fileURLToPath(import.meta.url), args, /peakRssMb=(\d+)/, 'the stream-app run')
  return Number(peak[1])
}

async function childMain(argv: readonly string[]): Promise<void> {
  const [bootstrap = '', input = '', output = '', messages = '0', partitions = '8'] = argv
  const o: PassthroughOptions = { bootstrap, messages: Number(messages), partitions: Number(partitions) }
  const broker = await openKafkaBroker({ url: `kafka://${bootstrap}` })
  try {
    const rt = await streamAppPassthrough(o, input, output)
    await watch(broker, output, o.partitions, o.messages, Math.max(120_000, o.messages / 5))
    await rt.stop()
  } finally {
    await broker.close()
  }
  process.stdout.write(`peakRssMb=${ownPeakRssMb()}\n`)
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === CHILD_FLAG
) {
  await childMain(process.argv.slice(3))
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bootstrap = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092'
  const messages = Number(process.argv[2] ?? 1_000_000)
  const partitions = Number(process.argv[3] ?? 8)
  console.log(JSON.stringify(await benchKafkaPassthrough({ messages, partitions, bootstrap })))
}
