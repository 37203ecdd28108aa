/**
 * GET /topics/:topic/records as an operator meets it: on for a loopback bind,
 * off (403, saying how to turn it on) when `web.records` is false or the
 * worker binds another address, and reading never moves the app's group.
 * A real worker (memory broker and store) and real HTTP.
 */
import { createApp, Schema } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { recordsEnabled } from '../src/records.ts'
import { startWeb } from './helpers.ts'

const notes = (web: { records?: boolean } = {}) =>
  createApp({ id: 'web-records', commitInterval: '50ms', web })
    .topic('notes', { key: Schema.String, value: Schema.String, partitions: 2 })
    .route('POST', '/notes/:key', async (c, ctx) => {
      await ctx.topics.notes.send(await c.req.text(), { key: c.req.param('key') })
      return c.json({ ok: true })
    })

describe('GET /topics/:topic/records', () => {
  it('answers on a loopback worker: decoded records, by partition and offset, with a limit', async () => {
    const w = await startWeb(notes().definition)
    try {
      for (const v of ['one', 'two', 'three'])
        expect((await fetch(`${w.url}/notes/a`, { method: 'POST', body: v })).status).toBe(200)
      const res = await fetch(`${w.url}/topics/notes/records`)
      expect(res.status).toBe(200)
      const body = (await res.json()) as { topic: string; records: { partition: number; value: unknown }[] }
      expect(body.topic).toBe('notes')
      expect(body.records.map((r) => r.value)).toEqual(['one', 'two', 'three'])
      const p = body.records[0]!.partition
      const some = (await (
        await fetch(`${w.url}/topics/notes/records?partition=${p}&from=1&limit=1`)
      ).json()) as {
        records: { offset: number; key: unknown; value: unknown }[]
      }
      expect(some.records).toEqual([expect.objectContaining({ offset: 1, key: 'a', value: 'two' })])
      const latest = (await (await fetch(`${w.url}/topics/notes/records?from=latest`)).json()) as {
        records: unknown[]
      }
      expect(latest.records).toEqual([])
      const bad = await fetch(`${w.url}/topics/notes/records?limit=-1`)
      expect(bad.status).toBe(400)
      expect(await bad.json()).toEqual({ error: "limit must be a whole number ≥ 0, got '-1'" })
    } finally {
      await w.stop()
    }
  })

  it('is off when web.records is false: 403 saying how to turn it on', async () => {
    const w = await startWeb(notes({ records: false }).definition, { web: { records: false } })
    try {
      const res = await fetch(`${w.url}/topics/notes/records`)
      expect(res.status).toBe(403)
      expect(((await res.json()) as { error: string }).error).toMatch(/set web\.records: true/)
    } finally {
      await w.stop()
    }
  })

  it('is off by default on a non-loopback address, on when web.records says so', () => {
    const view = (host: string, records?: boolean) =>
      ({ config: { web: { host, port: 0, ...(records !== undefined ? { records } : {}) } } }) as Parameters<
        typeof recordsEnabled
      >[0]
    expect(recordsEnabled(view('127.0.0.1'))).toBe(true)
    expect(recordsEnabled(view('::1'))).toBe(true)
    expect(recordsEnabled(view('0.0.0.0'))).toBe(false)
    expect(recordsEnabled(view('10.1.2.3'))).toBe(false)
    expect(recordsEnabled(view('0.0.0.0', true))).toBe(true)
    expect(recordsEnabled(view('127.0.0.1', false))).toBe(false)
  })
})
