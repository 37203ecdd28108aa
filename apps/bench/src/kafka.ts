/**
 * Kafka workloads against the local broker (scripts/kafka.sh, started here when
 * KAFKA_BROKERS is not set): passthrough next to a hand-written
 * @confluentinc/kafka-javascript loop (the ceiling) and the best loop the
 * client allows (stream-app's settings and batching), word count into a table
 * with changelog, and end-to-end latency at a fixed moderate rate. Peak RSS is
 * each run's own (reset before it).
 */
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type AppDefinition, createApp, Schema } from '@stream-app/core'
import { openKafkaBroker, startKafkaRuntime } from '@stream-app/kafka'
import { benchKafkaPassthrough, deleteTopics } from '@stream-app/kafka/bench'
import { preloadWords, runWordCount, runWordCountInChild } from './kafka-wordcount.ts'
import { best, pairedRatio, peakRssMb, type Result, resetPeakRss, rssMb, settle } from './report.ts'

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

export async function benchKafka(n = 1_000_000): Promise<Result[]> {
  const { bootstrap, stop } = ensureKafka()
  try {
    // Three alternating rounds: hand-written loop, best loop, stream-app; a closing hand-written run.
    const startRss: number[] = []
    // Each stream-app run in a process of its own, as a worker runs (BENCH_KAFKA_IN_PROCESS=1: in this one).
    const inChild = process.env.BENCH_KAFKA_IN_PROCESS !== '1'
    const pass = await benchKafkaPassthrough({
      messages: n,
      partitions: 8,
      bootstrap,
      rounds: 3,
      runs: ['ceiling', 'best', 'streamApp'],
      streamAppInChild: inChild,
      peakRss: {
        reset: () => {
          settle()
          resetPeakRss()
          startRss.push(rssMb())
        },
        read: peakRssMb,
      },
    })
    const p = pairedRatio(pass.streamApp, pass.ceiling)
    const ceiling = best(pass.ceiling)
    const bestLoop = best(pass.best)
    const sa = best(pass.streamApp)
    const passRss = Math.max(...pass.streamAppPeakRssMb)
    const results: Result[] = [
      {
        workload:
          'kafka-passthrough (topic → agent → topic, 100 B, 8 partitions; best of 3 alternating rounds)',
        messages: n,
        rate: sa,
        baseline: 'hand-written @confluentinc/kafka-javascript consume → produce loop (delivery reports)',
        baseline_rate: ceiling,
        ratio: sa / ceiling,
        target: 1.0,
        rss_mb: passRss,
        best_loop_rate: bestLoop,
        ratio_to_best_loop: sa / bestLoop,
        paired_ratio_median: p.ratio,
        rounds: `hand-written ${pass.ceiling.join(' ')}; best loop ${pass.best.join(' ')}; stream-app ${pass.streamApp.join(' ')}; peak RSS MB ${pass.streamAppPeakRssMb.join(' ')}${startRss.length ? ` (at each run's start ${startRss.join(' ')}: what the preload and the loops before it left)` : ' (each run in a process of its own)'}`,
      },
    ]

    // word count with changelog, at least once (commit 1 s) and exactly once (transactions, commit 100 ms)
    const id = randomUUID().slice(0, 8)
    const admin = await openKafkaBroker({ url: `kafka://${bootstrap}` })
    const wordCount = async (guarantee: 'at_least_once' | 'exactly_once') => {
      const words = `bench-words-${id}-${guarantee === 'exactly_once' ? 'eos' : 'alo'}`
      await admin.ensureTopics([{ name: words, partitions: 8 }])
      await preloadWords(admin, words, n)
      if (inChild) {
        const { rate, peakRssMb: rss } = await runWordCountInChild(bootstrap, words, n, guarantee)
        return { rate, rss, start: 0, words }
      }
      settle()
      resetPeakRss()
      const start = rssMb()
      const { rate } = await runWordCount(bootstrap, words, n, guarantee)
      return { rate, rss: peakRssMb(), start, words }
    }
    const wc = await wordCount('at_least_once')
    results.push({
      workload: 'kafka-word-count (10k keys, table with changelog)',
      messages: n,
      rate: wc.rate,
      baseline: 'the passthrough ceiling (hand-written loop, best of 3) of this run',
      baseline_rate: ceiling,
      ratio: wc.rate / ceiling,
      target: 1.0,
      rss_mb: wc.rss,
      ...(inChild ? { own_process: true } : { rss_at_start_mb: wc.start }),
      ratio_to_best_loop: wc.rate / bestLoop,
    })
    const eos = await wordCount('exactly_once')
    results.push({
      workload: 'kafka-word-count exactly_once (a transaction every 100 ms, the default)',
      messages: n,
      rate: eos.rate,
      baseline: 'the same word count at least once (commit 1 s) of this run',
      baseline_rate: wc.rate,
      ratio: eos.rate / wc.rate,
      target: 0,
      rss_mb: eos.rss,
      ...(inChild ? { own_process: true } : { rss_at_start_mb: eos.start }),
    })
    await deleteTopics(bootstrap, [wc.words, eos.words])

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
    await deleteTopics(bootstrap, [lin, lout])
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
