/**
 * GET /metrics: the worker's sensor in the Prometheus text format, rendered by
 * prom-client. Gauges and counters are read from one sensor snapshot per
 * scrape; the agent latency histogram is fed by the sensor's latency hook;
 * prom-client's default metrics add the process's own (CPU, memory, GC and the
 * event-loop lag, the first thing to look at when a Node worker falls behind).
 */
import type { Logger, PartitionLag, StatsSnapshot, WorkerView } from '@stream-app/core'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { lagWithin } from './lag.ts'

const STATES = ['starting', 'recovering', 'running', 'stopping', 'stopped'] as const
const AGENT_STATES = ['running', 'stopped', 'failed'] as const

/** Lag for one scrape; left out (with a warning) when the broker does not answer in time. */
async function scrapeLag(view: WorkerView, log: Logger): Promise<PartitionLag[]> {
  try {
    return await lagWithin(view)
  } catch (e) {
    log.warn(`metrics: consumer lag unavailable: ${e instanceof Error ? e.message : String(e)}`)
    return []
  }
}

/** The metrics of one worker, in a registry of their own. */
export class WorkerMetrics {
  readonly registry = new Registry()
  private snap: StatsSnapshot | undefined
  private lag: PartitionLag[] = []
  private readonly unsubscribe: () => void

  constructor(
    private readonly view: WorkerView,
    private readonly log: Logger,
  ) {
    const r = this.registry
    collectDefaultMetrics({ register: r })
    const s = () => this.snap ?? (this.snap = view.sensor.snapshot())
    const g = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset()
          fill(this)
        },
      })
    const c = (name: string, help: string, labelNames: string[], fill: (c: Counter) => void) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset()
          fill(this)
        },
      })
    g(
      'stream_app_worker_state',
      'Worker state: 1 for the current state, 0 for the others.',
      ['state'],
      (m) => {
        for (const st of STATES) m.set({ state: st }, s().state === st ? 1 : 0)
      },
    )
    c(
      'stream_app_agent_stalls_total',
      'Times a handler held one record longer than stallTimeout, per agent.',
      ['agent'],
      (m) => {
        for (const [agent, n] of Object.entries(s().stalls?.total ?? {})) m.inc({ agent }, n)
      },
    )
    g(
      'stream_app_agent_stalled',
      'Instances of the agent holding one record longer than stallTimeout right now.',
      ['agent'],
      (m) => {
        const now = new Map<string, number>()
        for (const st of s().stalls?.current ?? []) now.set(st.agent, (now.get(st.agent) ?? 0) + 1)
        for (const [agent, n] of now) m.set({ agent }, n)
      },
    )
    g(
      'stream_app_ready',
      'Whether GET /health says ready: 1 when the worker runs and its group is stable, else 0.',
      [],
      (m) => m.set(view.readiness().ready ? 1 : 0),
    )
    g(
      'stream_app_group_rebalancing',
      "1 while this worker's group is rebalancing (an assignment change within the settle period), else 0.",
      [],
      (m) => m.set(view.readiness().group === 'rebalancing' ? 1 : 0),
    )
    c('stream_app_messages_in_total', 'Records fetched from the broker, per topic.', ['topic'], (m) => {
      for (const t of s().topics) m.inc({ topic: t.name }, t.messagesIn)
    })
    c('stream_app_messages_out_total', 'Records sent and acknowledged, per topic.', ['topic'], (m) => {
      for (const t of s().topics) m.inc({ topic: t.name }, t.messagesOut)
    })
    c('stream_app_agent_consumed_total', 'Messages each agent took from its streams.', ['agent'], (m) => {
      for (const a of s().agents) m.inc({ agent: a.name }, a.consumed)
    })
    c(
      'stream_app_agent_yielded_total',
      'Values each agent yielded (to its sinks, answering asks).',
      ['agent'],
      (m) => {
        for (const a of s().agents) m.inc({ agent: a.name }, a.yielded)
      },
    )
    c('stream_app_agent_restarts_total', 'Times an agent was restarted after a failure.', ['agent'], (m) => {
      for (const a of s().agents) m.inc({ agent: a.name }, a.restarts)
    })
    g(
      'stream_app_agent_state',
      'Agent state: 1 for the current state, 0 for the others.',
      ['agent', 'state'],
      (m) => {
        for (const a of s().agents)
          for (const st of AGENT_STATES) m.set({ agent: a.name, state: st }, a.state === st ? 1 : 0)
      },
    )
    const latency = new Histogram({
      name: 'stream_app_agent_latency_seconds',
      help: 'Time an agent spends on one value (sampled: every 8th value).',
      labelNames: ['agent'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [r],
    })
    for (const a of view.def.agents ? Object.keys(view.def.agents) : []) latency.zero({ agent: a })
    g('stream_app_table_rows', 'Rows held in memory per table (one per key and window).', ['table'], (m) => {
      for (const t of s().tables) m.set({ table: t.name }, t.rows)
    })
    c('stream_app_table_writes_total', 'Table rows set or deleted since start.', ['table'], (m) => {
      for (const t of s().tables) m.inc({ table: t.name }, t.writes)
    })
    g('stream_app_table_held_partitions', 'Table partitions this worker holds.', ['table'], (m) => {
      for (const t of s().tables) m.set({ table: t.name }, t.held.length)
    })
    const perLag = (name: string, help: string, pick: (l: PartitionLag) => number) =>
      g(name, help, ['topic', 'partition'], (m) => {
        for (const l of this.lag) m.set({ topic: l.topic, partition: String(l.partition) }, pick(l))
      })
    perLag(
      'stream_app_consumer_lag',
      'End offset minus committed offset, per assigned partition.',
      (l) => l.lag,
    )
    perLag(
      'stream_app_consumer_committed_offset',
      'Committed offset, per assigned partition.',
      (l) => l.position,
    )
    perLag('stream_app_partition_end_offset', 'End offset of the log, per assigned partition.', (l) => l.end)
    c('stream_app_commits_total', 'Commits completed.', [], (m) => m.inc(s().commits.count))
    c('stream_app_commit_failures_total', 'Commits that failed.', [], (m) => m.inc(s().commits.failures))
    c('stream_app_commit_seconds_total', 'Time spent in completed commits.', [], (m) =>
      m.inc(s().commits.totalMs / 1000),
    )
    g('stream_app_commit_last_seconds', 'Duration of the last completed commit.', [], (m) =>
      m.set(s().commits.lastMs / 1000),
    )
    c('stream_app_recoveries_total', 'Table recoveries run (one per table and assignment).', [], (m) =>
      m.inc(s().recoveries.count),
    )
    c('stream_app_recovered_records_total', 'Changelog records replayed by recoveries.', [], (m) =>
      m.inc(s().recoveries.records),
    )
    c('stream_app_recovery_seconds_total', 'Time spent in recoveries.', [], (m) =>
      m.inc(s().recoveries.ms / 1000),
    )
    g('stream_app_recovery_in_progress', 'Tables recovering now (0 or 1: one at a time).', [], (m) =>
      m.set(s().recovering ? 1 : 0),
    )
    g(
      'stream_app_recovery_store_rows',
      'Rows loaded from the local store by the recovery in progress.',
      [],
      (m) => m.set(s().recovering?.storeRows ?? 0),
    )
    g(
      'stream_app_recovery_changelog_records',
      'Changelog records the recovery in progress has replayed (done) and has to (total).',
      ['of'],
      (m) => {
        m.set({ of: 'done' }, s().recovering?.changelogDone ?? 0)
        m.set({ of: 'total' }, s().recovering?.changelogTotal ?? 0)
      },
    )
    this.unsubscribe = view.sensor.subscribe({
      onLatency: (agent, seconds) => latency.observe({ agent }, seconds),
    })
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** One scrape: a fresh snapshot and lag, then every metric. Never throws for a failing part. */
  async render(): Promise<string> {
    this.lag = await scrapeLag(this.view, this.log)
    this.snap = this.view.sensor.snapshot()
    try {
      return await this.registry.metrics()
    } finally {
      this.snap = undefined
    }
  }

  close(): void {
    this.unsubscribe()
    this.registry.clear()
  }
}
