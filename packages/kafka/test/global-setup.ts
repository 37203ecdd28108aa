/**
 * vitest globalSetup for the kafka:// tests: uses KAFKA_BROKERS when set,
 * otherwise starts the single-node test broker with scripts/kafka.sh and stops
 * it at the end, but only if this run started it (a broker that was already
 * running, e.g. for another package's tests, is left alone).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
    /** The same broker's SASL/PLAIN listener (scripts/kafka.sh: stream-app / stream-app-secret). */
    kafkaSaslBrokers: string
  }
}

const script = fileURLToPath(new URL('../../../scripts/kafka.sh', import.meta.url))

export default function setup(project: TestProject): (() => void) | undefined {
  let brokers = process.env.KAFKA_BROKERS
  let sasl = process.env.KAFKA_SASL_BROKERS
  let startedHere = false
  if (!brokers) {
    const wasRunning = spawnSync('bash', [script, 'status'], { stdio: 'ignore' }).status === 0
    const r = spawnSync('bash', [script, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const m = /KAFKA_BOOTSTRAP=(\S+)/.exec(r.stdout ?? '')
    if (r.status !== 0 || !m?.[1]) throw new Error(`scripts/kafka.sh start failed (exit ${r.status})`)
    brokers = m[1]
    // The script prints the SASL listener it started (its port follows KAFKA_SASL_PORT).
    sasl ??= /KAFKA_SASL_BOOTSTRAP=(\S+)/.exec(r.stdout ?? '')?.[1]
    startedHere = !wasRunning
  }
  process.env.KAFKA_BROKERS = brokers
  // The test broker heartbeats consumer-protocol members every 500 ms (scripts/kafka.sh).
  process.env.STREAM_APP_REBALANCE_SETTLE_MS ??= '1000'
  project.provide('kafkaBrokers', brokers)
  project.provide('kafkaSaslBrokers', sasl ?? '127.0.0.1:19094')
  if (!startedHere) return undefined
  return () => {
    spawnSync('bash', [script, 'stop'], { stdio: 'inherit' })
  }
}
