/** Shared helpers for the kafka:// tests: the broker address, unique names, draining fetches, the Java oracle. */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Broker, BrokerRecord, FetchOptions, RecordBatch } from '@stream-app/core'
import { inject } from 'vitest'
import { openKafkaBroker } from '../src/index.ts'

export function bootstrap(): string {
  const b = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS
  if (!b)
    throw new Error('no Kafka broker: register packages/kafka/test/global-setup.ts or set KAFKA_BROKERS')
  return b
}

export const kafkaUrl = (): string => `kafka://${bootstrap()}`

let n = 0
/** A topic/group name no other test (or earlier run) uses. */
export const uniq = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${process.pid}-${(n++).toString(36)}`

export const openBroker = (): Promise<Broker> => openKafkaBroker({ url: kafkaUrl() })

export const buf = (s: string): Buffer => Buffer.from(s, 'utf8')
export const text = (u: Uint8Array | null): string | null =>
  u === null ? null : Buffer.from(u).toString('utf8')

/** Fetches until `count` records arrived (or fails after timeoutMs). */
export async function drain(
  source: { fetch(o: FetchOptions): Promise<RecordBatch[]> },
  count: number,
  timeoutMs = 20_000,
): Promise<BrokerRecord[]> {
  const out: BrokerRecord[] = []
  const deadline = Date.now() + timeoutMs
  while (out.length < count) {
    if (Date.now() > deadline) throw new Error(`got ${out.length} of ${count} records within ${timeoutMs}ms`)
    for (const b of await source.fetch({ maxRecords: 1000, maxWaitMs: 200 })) out.push(...b.records)
  }
  return out
}

/** Polls until fn returns true. */
export async function eventually(
  fn: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const root = fileURLToPath(new URL('../../../', import.meta.url))

/** Runs test/KafkaProbe.java with the real Kafka client jars (fetched by scripts/kafka.sh if missing). */
export function javaProbe(args: readonly string[]): string {
  let libs = `${root}.cache/kafka/${process.env.KAFKA_VERSION ?? '4.4.0'}/libs`
  if (!existsSync(libs)) {
    const r = spawnSync('bash', [`${root}scripts/kafka.sh`, 'fetch'], { encoding: 'utf8' })
    libs = /KAFKA_LIBS=(\S+)/.exec(r.stdout)?.[1] ?? libs
  }
  const r = spawnSync(
    'java',
    ['-cp', `${libs}/*`, fileURLToPath(new URL('./KafkaProbe.java', import.meta.url)), ...args],
    {
      encoding: 'utf8',
    },
  )
  if (r.status !== 0) throw new Error(`KafkaProbe ${args[0]} failed: ${r.stderr}`)
  return r.stdout
}
