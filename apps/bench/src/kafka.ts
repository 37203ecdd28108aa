/**
 * Kafka workloads against the local broker (scripts/kafka.sh, started here when
 * KAFKA_BROKERS is not set): passthrough next to a hand-written
 * @confluentinc/kafka-javascript loop (the ceiling), word count into a table
 * with changelog, and end-to-end latency at a fixed moderate rate.
 */
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type AppDefinition, type Broker, createApp, Schema } from '@stream-app/core'
import { openKafkaBroker, startKafkaRuntime } from '@stream-app/kafka'
import { benchKafkaPassthrough } from '@stream-app/kafka/bench'
import { median, pairedRatio, type Result, rssMb } from './report.ts'

const SCRIPT = fileURLToPath(new URL('../../../scripts/kafka.sh', import.meta.url))

/** The broker address; starts the test broker if needed. Returns a stop function when it started one. */
export function ensureKafka(): { bootstrap: string; stop: () => void } {
  if (process.env.KAFKA_BROKERS) return { bootstrap: process.env.KAFKA_BROKERS, stop: () => {} }
  const running = spawnSync('bash', [SCRIPT, 'status'], { stdio: 'ignore' }).status === 0
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const m = /KAFKA_BOOTSTRAP=(\S+)/.exec(r.stdout ?? '')
  if (r.status !== 0 || !m?.[1]) throw new Error('scripts/kafka.sh start failed')
  return {
    bootstrap: m[1],
    stop: () => (running ? undefined : void spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'inherit' })),
  }
}

const run = (def: AppDefinition, bootstrap: string) => startKafkaRuntime(def, { url: `kafka://${bootstrap}` })

async function waitFor(cond: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function preloadWords(broker: Broker, topic: string, n: number) {
  const producer = broker.producer()
  for (let i = 0; i < n; i += 50_000) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 50_000); j++) {
      const word = `word-${j % 10_000}`
      batch.push({
        topic,
        partition: j % 8,
        key: Buffer.from(word),
        value: Buffer.from(JSON.stringify(word)),
        timestamp: Date.now(),
      })
    }
    await producer.send(batch)
  }
}

export async function benchKafka(n = 1_000_000): Promise<Result[]> {
  const { bootstrap, stop } = ensureKafka()
  try {
    const pass = await benchKafkaPassthrough({ messages: n, partitions: 8, bootstrap })
    const p = pairedRatio(pass.streamApp, pass.ceiling)
    const ceiling = p.baselineRate
    const results: Result[] = [
      {
        workload: 'kafka-passthrough (topic → agent → topic, 100 B, 8 partitions)',
        messages: n,
        rate: p.rate,
        baseline: 'hand-written @confluentinc/kafka-javascript consume → produce loop',
        baseline_rate: ceiling,
        ratio: p.ratio,
        target: 0.6,
        rss_mb: rssMb(),
        adapter_only_rate: median(pass.adapter),
        ratio_best_of_each: p.bestOfEach,
      },
    ]

    // word count with changelog, at least once (commit 1 s) and exactly once (transactions, commit 100 ms)
    const id = randomUUID().slice(0, 8)
    const admin = await openKafkaBroker({ url: `kafka://${bootstrap}` })
    const wordCount = async (guarantee: 'at_least_once' | 'exactly_once') => {
      const run_ = `${id}-${guarantee === 'exactly_once' ? 'eos' : 'alo'}`
      const words = `bench-words-${run_}`
      const wc = createApp({
        id: `bench-wc-${run_}`,
        guarantee,
        ...(guarantee === 'at_least_once' ? { commitInterval: '1s' } : {}),
      })
        .topic(words as 'words', { value: Schema.String, partitions: 8 })
        .table('counts', { default: () => 0 })
        .agent('count', { from: words as 'words' }, async (ws, ctx) => {
          for await (const w of ws) ctx.tables.counts.update(w, (c) => c + 1)
        }).definition
      await admin.ensureTopics([{ name: words, partitions: 8 }])
      await preloadWords(admin, words, n)
      const t0 = performance.now()
      const w = await run(wc, bootstrap)
      const counts = w.tables.get('counts')!
      await waitFor(
        () => [...counts.rows.values()].reduce((a, r) => a + (r.value as number), 0) >= n,
        600_000,
      )
      const rate = n / ((performance.now() - t0) / 1000)
      await w.stop()
      return rate
    }
    const wcRate = await wordCount('at_least_once')
    results.push({
      workload: 'kafka-word-count (10k keys, table with changelog)',
      messages: n,
      rate: wcRate,
      baseline: 'the passthrough ceiling (raw client loop) of this run',
      baseline_rate: ceiling,
      ratio: wcRate / ceiling,
      target: 0,
      rss_mb: rssMb(),
    })
    const eosRate = await wordCount('exactly_once')
    results.push({
      workload: 'kafka-word-count exactly_once (a transaction every 100 ms, the default)',
      messages: n,
      rate: eosRate,
      baseline: 'the same word count at least once (commit 1 s) of this run',
      baseline_rate: wcRate,
      ratio: eosRate / wcRate,
      target: 0,
      rss_mb: rssMb(),
    })

    // end-to-end latency at a fixed moderate rate
    const lin = `bench-lat-in-${id}`
    const lout = `bench-lat-out-${id}`
    await admin.ensureTopics([
      { name: lin, partitions: 8 },
      { name: lout, partitions: 8 },
    ])
    const seen: number[] = []
    const lat = createApp({ id: `bench-lat-${id}`, commitInterval: '1s' })
      .topic(lin as 'in', { value: Schema.Number, partitions: 8 })
      .topic(lout as 'out', { value: Schema.Number, partitions: 8 })
      .agent('pass', { from: lin as 'in', sink: [lout as 'out'] }, async function* (ts) {
        for await (const t of ts) yield t
      })
      .agent('measure', { from: lout as 'out' }, async (ts) => {
        for await (const t of ts) seen.push(performance.timeOrigin + performance.now() - t)
      }).definition
    const lw = await run(lat, bootstrap)
    const rate = 5000
    const seconds = 15
    const producer = admin.producer()
    const started = performance.now()
    let sent = 0
    while (performance.now() - started < seconds * 1000) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate)
      const batch = []
      for (; sent < due; sent++) {
        const now = performance.timeOrigin + performance.now()
        batch.push({
          topic: lin,
          partition: sent % 8,
          key: null,
          value: Buffer.from(JSON.stringify(now)),
          timestamp: Math.floor(now),
        })
      }
      if (batch.length) void producer.send(batch)
      await new Promise((r) => setTimeout(r, 5))
    }
    await waitFor(() => seen.length >= sent, 60_000)
    await lw.stop()
    await admin.close()
    const sorted = seen.slice(Math.floor(seen.length / 5)).sort((a, b) => a - b) // drop the warm-up fifth
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
    results.push({
      workload: `kafka-latency (passthrough at ${rate} msg/s, end to end)`,
      messages: sent,
      rate: sent / seconds,
      baseline: 'the offered rate',
      baseline_rate: rate,
      ratio: sent / seconds / rate,
      target: 0,
      rss_mb: rssMb(),
      p50_ms: pct(50),
      p99_ms: pct(99),
    })
    return results
  } finally {
    stop()
  }
}
