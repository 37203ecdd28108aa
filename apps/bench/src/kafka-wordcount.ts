/**
 * The Kafka word count workload: 1M words pre-keyed by word (10k keys, 8
 * partitions) counted into a table with changelog. Shared by `--only kafka`
 * and the profiling harness; `--only kafka` runs it in a process of its own
 * (this file with --child), so its peak RSS is the worker's own.
 */
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type Broker, createApp, Schema } from '@stream-app/core'
import { startKafkaRuntime } from '@stream-app/kafka'
import { runInChild } from '@stream-app/kafka/bench'
import { peakRssMb } from './report.ts'

export async function preloadWords(broker: Broker, topic: string, n: number): Promise<void> {
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

async function waitFor(cond: () => boolean, timeoutMs: number, what: () => string) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * Counts the n words of `words` from a fresh group; returns msg/s from start-up
 * to the last count (start-up included) and the app's names (topics it created).
 */
export async function runWordCount(
  bootstrap: string,
  words: string,
  n: number,
  guarantee: 'at_least_once' | 'exactly_once',
): Promise<{ rate: number; appId: string }> {
  const appId = `bench-wc-${randomUUID().slice(0, 8)}-${guarantee === 'exactly_once' ? 'eos' : 'alo'}`
  const wc = createApp({
    id: appId,
    guarantee,
    ...(guarantee === 'at_least_once' ? { commitInterval: '1s' } : {}),
  })
    .topic(words as 'words', { value: Schema.String, partitions: 8 })
    .table('counts', { default: () => 0 })
    .agent('count', { from: words as 'words' }, async (ws, ctx) => {
      for await (const w of ws) ctx.tables.counts.update(w, (c) => c + 1)
    }).definition
  const t0 = performance.now()
  const w = await startKafkaRuntime(wc, { url: `kafka://${bootstrap}` })
  // Each word the agent takes is counted before it takes the next: taken is counted.
  const total = () => w.inspect.agentConsumed('count') ?? 0
  await waitFor(
    () => total() >= n,
    600_000,
    () => `${total()} of ${n} words counted`,
  )
  const rate = n / ((performance.now() - t0) / 1000)
  await w.stop()
  return { rate, appId }
}

/** runWordCount in a child process: its rate and its own peak RSS (MB). */
export async function runWordCountInChild(
  bootstrap: string,
  words: string,
  n: number,
  guarantee: 'at_least_once' | 'exactly_once',
): Promise<{ rate: number; peakRssMb: number }> {
  const args = ['--child', bootstrap, words, String(n), guarantee]
  const m = await runInChild(
    fileURLToPath(import.meta.url),
    args,
    /rate=([\d.]+) peakRssMb=(\d+)/,
    'the word count',
  )
  return { rate: Number(m[1]), peakRssMb: Number(m[2]) }
}

if (process.argv[2] === '--child' && import.meta.url === `file://${process.argv[1]}`) {
  const [bootstrap = '', words = '', n = '0', guarantee = 'at_least_once'] = process.argv.slice(3)
  const { rate } = await runWordCount(
    bootstrap,
    words,
    Number(n),
    guarantee as 'at_least_once' | 'exactly_once',
  )
  process.stdout.write(`rate=${rate} peakRssMb=${peakRssMb()}\n`)
}
