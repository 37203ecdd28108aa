/**
 * GET /metrics: the worker's counters in the Prometheus text exposition format
 * (version 0.0.4), read live from the WorkerRuntime on each scrape, plus the
 * event-loop delay this package samples itself (perf_hooks), because a blocked
 * loop is the first thing to look at when a Node worker falls behind.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import type { Logger, WorkerRuntime } from '@stream-app/core'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
/** A scrape must answer even when the broker does not: lag is skipped after this long. */
const LAG_TIMEOUT_MS = 2_000

type Labels = Readonly<Record<string, string | number>>
type MetricType = 'counter' | 'gauge' | 'histogram'

/** Label values escape backslash, double quote and newline (the format spec's three). */
export const escapeLabel = (v: string): string =>
  v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** HELP text escapes backslash and newline only. */
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

export const formatValue = (v: number): string =>
  Number.isNaN(v) ? 'NaN' : v === Number.POSITIVE_INFINITY ? '+Inf' : v === -Infinity ? '-Inf' : String(v)

class Exposition {
  private readonly lines: string[] = []

  family(name: string, type: MetricType, help: string): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
    return this
  }

  sample(name: string, labels: Labels | undefined, value: number): this {
    let l = ''
    if (labels) {
      const parts: string[] = []
      for (const k in labels) parts.push(`${k}="${escapeLabel(String(labels[k]))}"`)
      if (parts.length) l = `{${parts.join(',')}}`
    }
    this.lines.push(`${name}${l} ${formatValue(value)}`)
    return this
  }

  text(): string {
    return `${this.lines.join('\n')}\n`
  }
}

/**
 * Samples event-loop delay between scrapes; each scrape reads and resets it.
 * Node's histogram records the whole interval between timer turns, so the
 * sampling resolution is subtracted to leave the delay itself.
 */
export class LoopDelayMonitor {
  private static readonly RESOLUTION_MS = 10
  private readonly h: IntervalHistogram = monitorEventLoopDelay({
    resolution: LoopDelayMonitor.RESOLUTION_MS,
  })
  constructor() {
    this.h.enable()
  }
  /** Seconds: p50, p99, max and mean since the previous read. */
  read(): { p50: number; p99: number; max: number; mean: number } {
    const h = this.h
    const lag = (ns: number) => Math.max(0, ns / 1e6 - LoopDelayMonitor.RESOLUTION_MS) / 1000
    const r =
      h.count === 0
        ? { p50: 0, p99: 0, max: 0, mean: 0 }
        : { p50: lag(h.percentile(50)), p99: lag(h.percentile(99)), max: lag(h.max), mean: lag(h.mean) }
    h.reset()
    return r
  }
  stop(): void {
    this.h.disable()
  }
}

const union = (...keys: Iterable<string>[]): string[] => {
  const s = new Set<string>()
  for (const k of keys) for (const x of k) s.add(x)
  return [...s].sort()
}

async function lagWithin(
  rt: WorkerRuntime,
  log: Logger,
): Promise<Awaited<ReturnType<WorkerRuntime['lag']>> | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      rt.lag(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${LAG_TIMEOUT_MS}ms`)), LAG_TIMEOUT_MS)
      }),
    ])
  } catch (e) {
    log.warn(`metrics: consumer lag unavailable: ${e instanceof Error ? e.message : String(e)}`)
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

/** Renders every metric of the worker; never throws for a missing or failing part. */
export async function renderMetrics(rt: WorkerRuntime, loop: LoopDelayMonitor, log: Logger): Promise<string> {
  const x = new Exposition()
  const { stats } = rt

  x.family('stream_app_worker_state', 'gauge', 'Worker state: 1 for the current state, 0 for the others.')
  for (const s of ['starting', 'recovering', 'running', 'stopping', 'stopped'])
    x.sample('stream_app_worker_state', { state: s }, rt.state === s ? 1 : 0)

  x.family('stream_app_messages_in_total', 'counter', 'Records fetched from the broker, per topic.')
  for (const t of union(rt.topics.keys(), stats.messagesIn.keys()))
    x.sample('stream_app_messages_in_total', { topic: t }, stats.messagesIn.get(t) ?? 0)

  const out = rt.outbox.perTopic
  x.family('stream_app_messages_out_total', 'counter', 'Records sent and acknowledged, per topic.')
  for (const t of union(rt.topics.keys(), out.keys()))
    x.sample('stream_app_messages_out_total', { topic: t }, out.get(t) ?? 0)

  const consumed = stats.consumed
  x.family('stream_app_agent_consumed_total', 'counter', 'Messages each agent took from its streams.')
  for (const a of union(rt.agents.keys(), consumed.keys()))
    x.sample('stream_app_agent_consumed_total', { agent: a }, consumed.get(a) ?? 0)
  const yielded = stats.yielded
  x.family(
    'stream_app_agent_yielded_total',
    'counter',
    'Values each agent yielded (to its sinks, answering asks).',
  )
  for (const a of union(rt.agents.keys(), yielded.keys()))
    x.sample('stream_app_agent_yielded_total', { agent: a }, yielded.get(a) ?? 0)

  x.family('stream_app_agent_latency_seconds', 'histogram', 'Time an agent spends on one value.')
  for (const [agent, h] of [...stats.latency].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (let i = 0; i < h.bounds.length; i++)
      x.sample(
        'stream_app_agent_latency_seconds_bucket',
        { agent, le: formatValue(h.bounds[i]!) },
        h.counts[i]!,
      )
    x.sample('stream_app_agent_latency_seconds_bucket', { agent, le: '+Inf' }, h.count)
    x.sample('stream_app_agent_latency_seconds_sum', { agent }, h.sum)
    x.sample('stream_app_agent_latency_seconds_count', { agent }, h.count)
  }

  x.family('stream_app_agent_restarts_total', 'counter', 'Times an agent was restarted after a failure.')
  for (const [name, a] of rt.agents) x.sample('stream_app_agent_restarts_total', { agent: name }, a.restarts)
  x.family('stream_app_agent_state', 'gauge', 'Agent state: 1 for the current state, 0 for the others.')
  for (const [name, a] of rt.agents)
    for (const s of ['running', 'stopped', 'failed'])
      x.sample('stream_app_agent_state', { agent: name, state: s }, a.state === s ? 1 : 0)

  x.family('stream_app_table_rows', 'gauge', 'Rows held in memory per table (one per key and window).')
  for (const [name, t] of rt.tables) x.sample('stream_app_table_rows', { table: name }, t.rows.size)
  x.family('stream_app_table_writes_total', 'counter', 'Table rows set or deleted since start.')
  for (const [name, t] of rt.tables) x.sample('stream_app_table_writes_total', { table: name }, t.writes)

  const lag = await lagWithin(rt, log)
  x.family('stream_app_consumer_lag', 'gauge', 'End offset minus committed offset, per assigned partition.')
  for (const l of lag ?? [])
    x.sample('stream_app_consumer_lag', { topic: l.topic, partition: l.partition }, l.lag)
  x.family('stream_app_consumer_committed_offset', 'gauge', 'Committed offset, per assigned partition.')
  for (const l of lag ?? [])
    x.sample('stream_app_consumer_committed_offset', { topic: l.topic, partition: l.partition }, l.position)
  x.family('stream_app_partition_end_offset', 'gauge', 'End offset of the log, per assigned partition.')
  for (const l of lag ?? [])
    x.sample('stream_app_partition_end_offset', { topic: l.topic, partition: l.partition }, l.end)

  const c = stats.commits
  x.family('stream_app_commits_total', 'counter', 'Commits completed.').sample(
    'stream_app_commits_total',
    undefined,
    c.count,
  )
  x.family('stream_app_commit_failures_total', 'counter', 'Commits that failed.')
  x.sample('stream_app_commit_failures_total', undefined, c.failures)
  x.family('stream_app_commit_seconds_total', 'counter', 'Time spent in completed commits.')
  x.sample('stream_app_commit_seconds_total', undefined, c.totalMs / 1000)
  x.family('stream_app_commit_last_seconds', 'gauge', 'Duration of the last completed commit.')
  x.sample('stream_app_commit_last_seconds', undefined, c.lastMs / 1000)

  const r = stats.recoveries
  x.family('stream_app_recoveries_total', 'counter', 'Table recoveries run (one per partition assignment).')
  x.sample('stream_app_recoveries_total', undefined, r.count)
  x.family('stream_app_recovered_records_total', 'counter', 'Changelog records replayed by recoveries.')
  x.sample('stream_app_recovered_records_total', undefined, r.records)
  x.family('stream_app_recovery_seconds_total', 'counter', 'Time spent in recoveries.')
  x.sample('stream_app_recovery_seconds_total', undefined, r.ms / 1000)
  const now = stats.recovering
  x.family('stream_app_recovery_in_progress', 'gauge', 'Tables recovering now (0 or 1: one at a time).')
  x.sample('stream_app_recovery_in_progress', undefined, now ? 1 : 0)
  x.family(
    'stream_app_recovery_store_rows',
    'gauge',
    'Rows loaded from the local store by the recovery in progress.',
  )
  x.sample('stream_app_recovery_store_rows', undefined, now?.storeRows ?? 0)
  x.family(
    'stream_app_recovery_changelog_records',
    'gauge',
    'Changelog records the recovery in progress has replayed (done) and has to (total).',
  )
  x.sample('stream_app_recovery_changelog_records', { of: 'done' }, now?.changelogDone ?? 0)
  x.sample('stream_app_recovery_changelog_records', { of: 'total' }, now?.changelogTotal ?? 0)

  const d = loop.read()
  const loopHelp = 'Event-loop delay since the previous scrape'
  x.family('stream_app_event_loop_lag_p50_seconds', 'gauge', `${loopHelp}, median.`)
  x.sample('stream_app_event_loop_lag_p50_seconds', undefined, d.p50)
  x.family('stream_app_event_loop_lag_p99_seconds', 'gauge', `${loopHelp}, 99th percentile.`)
  x.sample('stream_app_event_loop_lag_p99_seconds', undefined, d.p99)
  x.family('stream_app_event_loop_lag_max_seconds', 'gauge', `${loopHelp}, maximum.`)
  x.sample('stream_app_event_loop_lag_max_seconds', undefined, d.max)
  x.family('stream_app_event_loop_lag_mean_seconds', 'gauge', `${loopHelp}, mean.`)
  x.sample('stream_app_event_loop_lag_mean_seconds', undefined, d.mean)
  return x.text()
}
