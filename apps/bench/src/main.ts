/**
 * `pnpm bench [--json] [--only name[,name]]`: runs every workload, each next to
 * its baseline in the same run, and prints a table or one JSON object per line.
 * Workloads: memory, join, sqlite, broker, recovery, failover, web, kafka,
 * rebalance (in a full run only when a Kafka broker answers), kstreams (Kafka
 * Streams side by side: only when asked for by name, it needs Java and Maven).
 */
import { benchFailover } from './failover.ts'
import { benchJoin } from './join.ts'
import { benchKafka } from './kafka.ts'
import { benchKStreams } from './kafka-streams.ts'
import { benchMemory } from './memory.ts'
import { benchRebalance, kafkaReachable } from './rebalance-bench.ts'
import { printResult, type Result } from './report.ts'
import { benchRecovery, benchSqliteBroker, benchSqliteTable } from './sqlite.ts'
import { benchWeb } from './web.ts'

const args = process.argv.slice(2)
const json = args.includes('--json')
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]?.split(',') : undefined

const workloads: [string, () => Promise<Result | Result[]>][] = [
  ['memory', () => benchMemory()],
  ['join', () => benchJoin()],
  ['sqlite', () => benchSqliteTable()],
  ['broker', () => benchSqliteBroker()],
  ['recovery', () => benchRecovery()],
  ['failover', () => benchFailover()],
  ['web', () => benchWeb()],
  ['kafka', () => benchKafka()],
  ['rebalance', () => benchRebalance()],
  ['kstreams', () => benchKStreams()],
]

for (const [name, run] of workloads) {
  if (only && !only.includes(name)) continue
  // minutes of three worker processes against a broker: asked for by name, or run when one answers
  if (name === 'kstreams' && !only) continue
  if (name === 'rebalance' && !only && !(await kafkaReachable())) {
    process.stderr.write('bench rebalance skipped: no Kafka broker answers (set KAFKA_BROKERS)\n')
    continue
  }
  try {
    const r = await run()
    for (const x of Array.isArray(r) ? r : [r]) printResult(x, json)
  } catch (e) {
    process.stderr.write(`bench ${name} failed: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  }
}
