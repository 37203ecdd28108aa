/**
 * Table queries are answered for any key on any worker: two workers of one app
 * share the partitions of a memory:// broker, and GET /tables/:table/:key on
 * either forwards to the key's owner, found from the group's membership.
 */
import { createApp, MemoryBroker, Schema, startMemoryRuntime, type WorkerRuntime } from '@stream-app/core'
import { startWebServer } from '@stream-app/web'
import { afterAll, describe, expect, it } from 'vitest'

const def = createApp({ id: 'route', commitInterval: '100ms' })
  .topic('words', { value: Schema.String, partitions: 4 })
  .table('counts', { default: () => 0 })
  .agent('count', { from: 'words' }, async (words, ctx) => {
    for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
  }).definition

const broker = new MemoryBroker()
const workers: WorkerRuntime[] = []
const start = async () => {
  const w = await startMemoryRuntime(def, {
    broker,
    web: { port: 0 },
    webServer: (rt) => startWebServer(rt),
  })
  workers.push(w)
  return w
}
/** Polls fn until it returns something (bounded by the test's timeout). */
const until = async <T>(fn: () => Promise<T | undefined>): Promise<T> => {
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 20))
  }
}

afterAll(async () => {
  for (const w of workers) await w.stop()
})

describe('table queries routed by key', () => {
  it('answers for every key on every worker', async () => {
    const a = await start()
    const b = await start()
    const words = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape', 'kiwi']
    for (const w of words) for (let i = 0; i < 3; i++) await a.topicHandles.words!.send(w, { key: w })
    await a.idle()
    await b.idle()
    const owners = new Set<string>()
    for (const w of words) {
      for (const rt of [a, b]) {
        // Until both know the group's membership after the rebalance: 503 (holder unknown) before.
        const body = await until(async () => {
          const res = await fetch(`${rt.url}/tables/counts/${w}`)
          return res.status === 200 ? await res.json() : undefined
        })
        expect(body).toEqual({ key: w, value: 3 })
      }
      owners.add((await a.ownerUrl('counts', w)) ?? a.url!)
    }
    expect(owners.size).toBe(2) // the keys really are spread over both workers
  })
})
