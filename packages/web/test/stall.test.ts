/**
 * An agent never stops silently, and stallTimeout, over real HTTP: a handler holding one record past the timeout
 * is logged (agent, partition, offset, how long), counted in /metrics, and
 * /health says 'stalled' with where, until the handler lets go.
 */
import { createApp, Schema } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { parsePrometheus, sampleValue, startWeb, until } from './helpers.ts'

describe('stallTimeout', () => {
  it("reports a handler holding a record too long: a log line, /metrics, /health 'stalled'", async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const done: number[] = []
    const app = createApp({ id: 'stall', stallTimeout: '300ms' })
      .topic('jobs', { value: Schema.Number, partitions: 1 })
      .agent('work', { from: 'jobs' }, async (jobs) => {
        for await (const n of jobs) {
          if (n === 2) await gate
          done.push(n)
        }
      })
    const w = await startWeb(app.definition)
    const health = async () => {
      const res = await fetch(`${w.url}/health`)
      return { status: res.status, body: (await res.json()) as { status: string; stalled?: unknown[] } }
    }
    try {
      const send = w.rt.topicHandles.jobs!
      await send.send(1)
      await send.send(2)
      let h = await health()
      await until(async () => {
        h = await health()
        return h.body.status === 'stalled'
      })
      expect(h.status).toBe(503)
      expect(h.body.stalled).toEqual([
        expect.objectContaining({ agent: 'work', topic: 'jobs', partition: 0, offset: 1 }),
      ])
      expect(w.logs.find((l) => l.includes('stalled'))).toMatch(
        /agent work stalled: holding jobs\[0\]@1 for \d+\.\ds/,
      )
      const metrics = parsePrometheus(await (await fetch(`${w.url}/metrics`)).text())
      expect(sampleValue(metrics, 'stream_app_agent_stalls_total', { agent: 'work' })).toBe(1)
      expect(sampleValue(metrics, 'stream_app_agent_stalled', { agent: 'work' })).toBe(1)
      release()
      await until(async () => (await health()).body.status !== 'stalled')
      await w.rt.idle()
      expect(done).toEqual([1, 2])
      await until(() => w.logs.some((l) => l.includes('agent work resumed')))
    } finally {
      release()
      await w.stop()
    }
  })

  it("says which agent stopped by itself, at which record and why: /health 'agent stopped'", async () => {
    const app = createApp({ id: 'stopped', stallTimeout: 0 })
      .topic('jobs', { value: Schema.Number, partitions: 1, onInvalid: 'fail' })
      .agent('work', { from: 'jobs' }, async (jobs) => {
        for await (const _ of jobs) {
        }
      })
    const w = await startWeb(app.definition)
    try {
      await w.rt.topicHandles.jobs!.send(1)
      await w.broker
        .producer()
        .send([
          { topic: 'jobs', partition: 0, key: null, value: Buffer.from('not json'), timestamp: Date.now() },
        ])
      let body: { status?: string; stoppedAgents?: unknown[] } = {}
      let status = 0
      await until(async () => {
        const res = await fetch(`${w.url}/health`)
        status = res.status
        body = (await res.json()) as typeof body
        return body.status === 'agent stopped'
      })
      expect(status).toBe(503)
      expect(body.stoppedAgents).toEqual([
        expect.objectContaining({
          agent: 'work',
          topic: 'jobs',
          partition: 0,
          offset: 1,
          reason: expect.any(String),
        }),
      ])
    } finally {
      await w.stop()
    }
  })
})
