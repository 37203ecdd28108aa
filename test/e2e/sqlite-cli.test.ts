/**
 * The CLI on the default sqlite:// broker, as a user runs it: `stream-app run`
 * in one process, `stream-app send` (one value, then stdin lines) from other
 * processes, and the results read back over HTTP from a user route, the table
 * route, /health and /metrics, then the sink straight from the broker file.
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker } from './proc.ts'
import {
  brokerFile,
  COUNTER,
  getJson,
  logsOf,
  metrics,
  readSeen,
  readTopic,
  tempDir,
  until,
} from './sqlite-helpers.ts'

// Real processes on a shared 2-core machine: generous bounds, typical runs are far below.
describe('stream-app send → stream-app run on sqlite://', { timeout: 90_000 }, () => {
  it('delivers values from other processes to the worker, readable through routes, tables and metrics', async () => {
    const dir = tempDir()
    const w = startWorker(['run', COUNTER], {}, dir)
    const url = await w.url()
    const ctx = { context: logsOf(w) }

    const one = cli(['send', COUNTER, 'numbers', '7', '--key', 'ann'], { cwd: dir })
    expect(one.err).toBe('')
    expect(one.code).toBe(0)
    expect(JSON.parse(one.out)).toMatchObject({ topic: 'numbers', offset: 0 })

    // stdin: one message a line, blank lines ignored
    const many = cli(['send', COUNTER, 'numbers', '--key', 'bob'], { cwd: dir, input: '1\n2\n\n3\n' })
    expect(many.code).toBe(0)
    const sent = many.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { partition: number; offset: number })
    expect(sent).toHaveLength(3)
    // one key, one partition, consecutive offsets
    expect(new Set(sent.map((s) => s.partition)).size).toBe(1)
    expect(sent.map((s) => s.offset - sent[0]!.offset)).toEqual([0, 1, 2])

    // JSON where a line parses, the raw string where it does not (the notes topic takes any value)
    const notes = cli(['send', COUNTER, 'notes', '--key', 'n1'], {
      cwd: dir,
      input: '{"a":1}\nplain text\n42\n[1,"x"]\n"quoted"\n',
    })
    expect(notes.code).toBe(0)
    expect(notes.out.trim().split('\n')).toHaveLength(5)

    await until(
      'ann and bob counted',
      async () => {
        const ann = (await getJson<{ count: number }>(`${url}/count/ann`)).body.count
        const bob = (await getJson<{ count: number }>(`${url}/count/bob`)).body.count
        return ann === 1 && bob === 3
      },
      ctx,
    )
    expect(await getJson(`${url}/count/bob`)).toEqual({ status: 200, body: { key: 'bob', count: 3 } })
    expect(await getJson(`${url}/tables/counts/ann`)).toEqual({ status: 200, body: { key: 'ann', value: 1 } })
    // an absent key reads as the table's default
    expect(await getJson(`${url}/tables/counts/nobody`)).toEqual({
      status: 200,
      body: { key: 'nobody', value: 0 },
    })
    await until(
      'the notes kept',
      async () => (await getJson<{ value: unknown[] }>(`${url}/tables/notes/n1`)).body.value.length === 5,
      ctx,
    )
    expect((await getJson(`${url}/tables/notes/n1`)).body).toEqual({
      key: 'n1',
      value: [{ a: 1 }, 'plain text', 42, [1, 'x'], 'quoted'],
    })
    expect((await getJson(`${url}/tables/no-such-table/x`)).status).toBe(404)

    // 200 once the group has gone a settle period without a rebalance (503 'rebalancing' until then).
    const health = await until('/health to say ok', async () => {
      const h = await getJson<{ status: string }>(`${url}/health`)
      return h.status === 200 ? h : undefined
    })
    expect(health.body).toMatchObject({ status: 'ok', state: 'running', group: 'stable' })
    const m = await until('the sink sends in the metrics', async () => {
      const m = await metrics(url)
      return m.get('stream_app_messages_out_total{topic="seen"}') === 4 ? m : undefined
    })
    expect(m.get('stream_app_messages_in_total{topic="numbers"}')).toBe(4)
    expect(m.get('stream_app_messages_in_total{topic="notes"}')).toBe(5)
    expect(m.get('stream_app_agent_consumed_total{agent="count"}')).toBe(4)
    expect(m.get('stream_app_agent_yielded_total{agent="count"}')).toBe(4)
    expect(m.get('stream_app_worker_state{state="running"}')).toBe(1)
    expect(m.get('stream_app_table_rows{table="counts"}')).toBe(2)

    // a value the topic's schema rejects: one clear line, exit 1, the worker unaffected
    const bad = cli(['send', COUNTER, 'numbers', 'not-a-number', '--key', 'ann'], { cwd: dir })
    expect(bad.code).toBe(1)
    expect(bad.err.trim().split('\n')).toHaveLength(1)
    expect(bad.err).toMatch(/^stream-app: cannot encode value for topic 'numbers'/)

    expect(await w.stop()).toBe(0)
    // every value went through the agent exactly once, processed by this worker
    const seen = await readSeen(brokerFile(dir))
    expect(seen.map((s) => s.n).sort((a, b) => a - b)).toEqual([1, 2, 3, 7])
    expect(new Set(seen.map((s) => s.pid))).toEqual(new Set([w.pid]))
    // and the table's changelog holds the final counts
    const changelog = await readTopic(brokerFile(dir), 'e2e-counter-counts-changelog')
    const last = new Map(changelog.map((r) => [r.key, r.value]))
    expect(Object.fromEntries(last)).toEqual({ ann: 1, bob: 3 })
  })
})
