/**
 * GET /metrics of a real worker: the text parses as Prometheus exposition
 * format, every sample belongs to a declared family, and the counters move
 * when messages flow, agents restart and commits happen.
 */
import { createApp, Schema } from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parsePrometheus, type Running, sampleValue, shop, startWeb, until } from './helpers.ts'

const scrape = async (url: string) => {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheus(await res.text())
}

describe('/metrics', () => {
  let w: Running
  beforeAll(async () => {
    const def = shop()
      // Two partitions, as `orders`: the tables are partitioned like both (bound at start).
      .topic('commands', { value: Schema.String, partitions: 2 })
      .agent('fragile', { from: 'commands' }, async (cmds) => {
        for await (const c of cmds) if (c === 'boom') throw new Error('fragile agent failed on purpose')
      }).definition
    w = await startWeb(def)
  })
  afterAll(() => w.stop())

  it('declares HELP and TYPE for every family and starts at zero', async () => {
    const m = await scrape(w.url)
    for (const [name, type] of [
      ['stream_app_messages_in_total', 'counter'],
      ['stream_app_messages_out_total', 'counter'],
      ['stream_app_agent_consumed_total', 'counter'],
      ['stream_app_agent_yielded_total', 'counter'],
      ['stream_app_recovery_in_progress', 'gauge'],
      ['stream_app_agent_latency_seconds', 'histogram'],
      ['stream_app_agent_restarts_total', 'counter'],
      ['stream_app_agent_state', 'gauge'],
      ['stream_app_table_rows', 'gauge'],
      ['stream_app_consumer_lag', 'gauge'],
      ['stream_app_commits_total', 'counter'],
      ['stream_app_commit_failures_total', 'counter'],
      ['stream_app_commit_seconds_total', 'counter'],
      ['stream_app_recoveries_total', 'counter'],
      // prom-client's default metrics: the process, and the event loop's lag first of all
      ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
      ['process_cpu_seconds_total', 'counter'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['stream_app_worker_state', 'gauge'],
    ] as const) {
      expect(m.types.get(name), name).toBe(type)
      expect(m.help.get(name), name).toBeTruthy()
    }
    expect(sampleValue(m, 'stream_app_messages_in_total', { topic: 'orders' })).toBe(0)
    expect(sampleValue(m, 'stream_app_agent_consumed_total', { agent: 'track' })).toBe(0)
    expect(sampleValue(m, 'stream_app_agent_yielded_total', { agent: 'track' })).toBe(0)
    expect(sampleValue(m, 'stream_app_table_rows', { table: 'revenue' })).toBe(0)
    expect(sampleValue(m, 'stream_app_worker_state', { state: 'running' })).toBe(1)
    expect(sampleValue(m, 'stream_app_worker_state', { state: 'recovering' })).toBe(0)
    expect(sampleValue(m, 'stream_app_agent_state', { agent: 'track', state: 'running' })).toBe(1)
    expect(sampleValue(m, 'stream_app_recoveries_total')).toBeGreaterThanOrEqual(1)
    expect(sampleValue(m, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0)
  })

  it('counts messages in and out, values yielded, latency, table rows, lag and commits as they happen', async () => {
    const orders = w.rt.topicHandles.orders!
    for (let i = 0; i < 10; i++)
      await orders.send({ id: `${i}`, customer: `c${i % 3}`, amount: i * 30 }, { key: `c${i % 3}` })
    await w.rt.idle()
    await until(async () => (sampleValue(await scrape(w.url), 'stream_app_commits_total') ?? 0) > 0)
    await w.rt.commit()
    const m = await scrape(w.url)
    expect(sampleValue(m, 'stream_app_messages_in_total', { topic: 'orders' })).toBe(10)
    expect(sampleValue(m, 'stream_app_messages_out_total', { topic: 'orders' })).toBe(10)
    // amounts 0..270 step 30: 120..270 are > 100, six of them go to big-orders
    expect(sampleValue(m, 'stream_app_messages_out_total', { topic: 'big-orders' })).toBe(6)
    // ten messages consumed, six of them yielded (the big ones): two counters, two meanings
    expect(sampleValue(m, 'stream_app_agent_consumed_total', { agent: 'track' })).toBe(10)
    expect(sampleValue(m, 'stream_app_agent_yielded_total', { agent: 'track' })).toBe(6)
    expect(sampleValue(m, 'stream_app_table_rows', { table: 'revenue' })).toBe(3)
    expect(sampleValue(m, 'stream_app_table_writes_total', { table: 'revenue' })).toBe(10)
    expect(
      sampleValue(m, 'stream_app_messages_out_total', { topic: 'web-shop-revenue-changelog' }),
    ).toBeGreaterThan(0)

    const buckets = m.samples.filter(
      (s) => s.name === 'stream_app_agent_latency_seconds_bucket' && s.labels.agent === 'track',
    )
    expect(buckets.length).toBeGreaterThan(1)
    expect(buckets.at(-1)!.labels.le).toBe('+Inf')
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value)
    const count = sampleValue(m, 'stream_app_agent_latency_seconds_count', { agent: 'track' })!
    expect(count).toBeGreaterThan(0)
    expect(buckets.at(-1)!.value).toBe(count)
    expect(sampleValue(m, 'stream_app_agent_latency_seconds_sum', { agent: 'track' })).toBeGreaterThanOrEqual(
      0,
    )

    const lag = m.samples.filter((s) => s.name === 'stream_app_consumer_lag' && s.labels.topic === 'orders')
    expect(lag.map((s) => s.labels.partition).sort()).toEqual(['0', '1'])
    for (const s of lag) expect(s.value).toBe(0)
    const ends = m.samples.filter(
      (s) => s.name === 'stream_app_partition_end_offset' && s.labels.topic === 'orders',
    )
    expect(ends.reduce((a, s) => a + s.value, 0)).toBe(10)

    expect(sampleValue(m, 'stream_app_commits_total')).toBeGreaterThan(0)
    expect(sampleValue(m, 'stream_app_commit_failures_total')).toBe(0)
    expect(sampleValue(m, 'stream_app_commit_seconds_total')).toBeGreaterThan(0)
  })

  it('counts agent restarts', async () => {
    await w.rt.topicHandles.commands!.send('boom')
    await until(
      async () =>
        (sampleValue(await scrape(w.url), 'stream_app_agent_restarts_total', { agent: 'fragile' }) ?? 0) >= 1,
    )
    const agents = (await (await fetch(`${w.url}/agents`)).json()) as { name: string; restarts: number }[]
    expect(agents.find((a) => a.name === 'fragile')!.restarts).toBeGreaterThanOrEqual(1)
  })
})

describe('/metrics of other apps', () => {
  it('metrics of an app without agents or tables still parse', async () => {
    const w = await startWeb(createApp({ id: 'bare' }).definition)
    try {
      const m = await scrape(w.url)
      expect(sampleValue(m, 'stream_app_commits_total')).toBeGreaterThanOrEqual(0)
    } finally {
      await w.stop()
    }
  })
})
