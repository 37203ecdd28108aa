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
    await new Promise((r) => setTimeout(r, 1200)) // membership refresh after the rebalance
    const owners = new Set<string>()
    for (const w of words) {
      const owner = (await a.ownerUrl('counts', w)) ?? a.url!
      owners.add(owner)
      for (const rt of [a, b]) {
        const res = await fetch(`${rt.url}/tables/counts/${w}`)
        expect(res.status).toBe(200)
        expect(await res.json()).toEqual({ key: w, value: 3 })
      }
    }
    expect(owners.size).toBe(2) // the keys really are spread over both workers
  })
})
