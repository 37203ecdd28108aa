/**
 * The rebalance workload's result lines: per scenario (group protocol,
 * standbys, stable worker ids or not), steady-state latency under
 * exactly_once, the rolling restart and the kill -9, each against the
 * issue's goals (unmoved partitions' gap ≤ 0.5 s, moved ≤ 2 s with a standby,
 * p99 ≤ 300 ms at 1,000 msg/s). The classic-protocol run is the comparison
 * (the old behaviour) and has no target.
 */
import { createConnection } from 'node:net'
import { ensureKafka } from './kafka.ts'
import { type Disruption, rebalanceRun, type Scenario, type ScenarioRun } from './rebalance.ts'
import { type Result, rssMb } from './report.ts'

const SCENARIOS: Record<string, Scenario> = {
  consumer: { protocol: 'consumer', standby: 0, stableIds: true },
  'consumer-standby': { protocol: 'consumer', standby: 1, stableIds: true },
  classic: { protocol: 'classic', standby: 0, stableIds: false },
}

/** Whether a Kafka broker answers at KAFKA_BROKERS (or the test broker's port): the full run includes this workload only then. */
export function kafkaReachable(): Promise<boolean> {
  const first = (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 19092}`).split(',')[0]!
  const at = first.lastIndexOf(':')
  return new Promise((resolve) => {
    const s = createConnection({ host: first.slice(0, at), port: Number(first.slice(at + 1)) })
    s.setTimeout(2_000)
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
    s.once('timeout', () => done(false))
  })
}

const PARTITIONS_TEXT = 'events with 12 partitions'
const ms = (n: number) => Math.round(n)
const name = (s: Scenario) =>
  `${s.protocol === 'consumer' ? 'consumer protocol (KIP-848)' : 'classic protocol'}, standbyReplicas ${s.standby}, ${s.stableIds ? 'stable worker ids' : 'a fresh worker id per start'}`

function disruption(d: Disruption, prefix: string): Record<string, number | string> {
  return {
    [`${prefix}_ms`]: d.ms,
    [`${prefix}_own_gap_ms`]: d.ownGapMs,
    [`${prefix}_peers_gap_ms`]: d.peersGapMs,
    [`${prefix}_replayed`]: d.replayed,
    [`${prefix}_recovering_lines`]: d.recoveringLines,
    [`${prefix}_rebalance_lines`]: d.rebalanceLines,
    [`${prefix}_peers_rebalance_lines`]: d.peerRebalanceLines,
    [`${prefix}_moved`]: d.moved,
    [`${prefix}_recovery_ms`]: d.recoveryMs,
    [`${prefix}_peers_warm_takeovers`]: d.peersWarm,
    [`${prefix}_peers_cold_takeovers`]: d.peersCold,
    [`${prefix}_bench_stall_ms`]: d.benchStallMs,
  }
}

function results(r: ScenarioRun): Result[] {
  const s = r.scenario
  const kip = s.protocol === 'consumer'
  const head = `rebalance: 3 workers, ${PARTITIONS_TEXT}, ${r.keys.toLocaleString('en-US')} keys, ${r.rate.toLocaleString('en-US')} msg/s, exactly_once; ${name(s)}`
  const lost = r.produced - r.outputs
  const common = {
    lost_or_duplicated: lost === 0 ? '0' : `${lost > 0 ? lost : -lost} ${lost > 0 ? 'missing' : 'extra'}`,
  }
  const ownMax = Math.max(...r.restarts.map((d) => d.ownGapMs))
  const peersMax = Math.max(...r.restarts.map((d) => d.peersGapMs))
  // the moved-partition goal is 2 s with a standby; under static membership nothing moves and the restarted worker's partitions wait for it
  const out: Result[] = [
    {
      workload: `${head}: steady-state end-to-end latency (p99)`,
      messages: r.steady.samples,
      unit: 'ms',
      rate: r.steady.p99,
      baseline: 'the goal: p99 ≤ 300 ms',
      baseline_rate: 300,
      ratio: 300 / Math.max(r.steady.p99, 1),
      target: kip ? 1 : 0,
      rss_mb: rssMb(),
      p50_ms: r.steady.p50,
      p99_ms: r.steady.p99,
      max_ms: r.steady.max,
      longest_gap_ms: r.steady.gapMs,
      preload_s: r.preloadSeconds,
    },
    {
      workload: `${head}: rolling restart (SIGTERM, start, /health 200), longest output gap of the peers' partitions`,
      messages: r.produced,
      unit: 'ms',
      rate: peersMax,
      baseline: 'the goal: unmoved partitions ≤ 500 ms',
      baseline_rate: 500,
      ratio: 500 / Math.max(peersMax, 1),
      target: kip ? 1 : 0,
      rss_mb: rssMb(),
      restarted_own_gap_ms_max: ownMax,
      ...common,
      ...Object.assign({}, ...r.restarts.map((d, i) => disruption(d, `r${i + 1}`))),
    },
    {
      workload: `${head}: kill -9 of one worker and its restart, longest output gap of its partitions`,
      messages: r.produced,
      unit: 'ms',
      rate: r.kill.ownGapMs,
      baseline: 'no goal (the session timeout bounds it)',
      baseline_rate: r.kill.ownGapMs,
      ratio: 1,
      target: 0,
      rss_mb: rssMb(),
      ...common,
      ...disruption(r.kill, 'kill'),
    },
  ]
  return out.map((x) => ({ ...x, rate: ms(x.rate) }))
}

/**
 * BENCH_REBALANCE_SCENARIOS (comma-separated: consumer, consumer-standby,
 * classic; all by default), BENCH_REBALANCE_KEYS (200,000),
 * BENCH_REBALANCE_RATE (1,000 msg/s), BENCH_REBALANCE_STEADY_S (15).
 */
export async function benchRebalance(): Promise<Result[]> {
  const env = process.env
  const names = (env.BENCH_REBALANCE_SCENARIOS ?? Object.keys(SCENARIOS).join(',')).split(',')
  for (const n of names)
    if (!SCENARIOS[n])
      throw new Error(`BENCH_REBALANCE_SCENARIOS: no scenario '${n}' (${Object.keys(SCENARIOS).join(', ')})`)
  const { bootstrap, stop } = ensureKafka()
  try {
    const out: Result[] = []
    for (const n of names) {
      // one scenario failing still reports the others
      try {
        const r = await rebalanceRun(
          bootstrap,
          SCENARIOS[n]!,
          Number(env.BENCH_REBALANCE_KEYS ?? 200_000),
          Number(env.BENCH_REBALANCE_RATE ?? 1_000),
          Number(env.BENCH_REBALANCE_STEADY_S ?? 15),
        )
        out.push(...results(r))
      } catch (e) {
        process.stderr.write(`bench rebalance (${n}) failed: ${e instanceof Error ? e.message : String(e)}\n`)
        process.exitCode = 1
      }
    }
    return out
  } finally {
    stop()
  }
}
