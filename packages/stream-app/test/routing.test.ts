/**
 * Table queries are answered for any key on any worker: two workers of one app
 * share the partitions of a memory:// broker, and GET /tables/:table/:key on
 * either forwards to the key's owner, found from the group's membership.
 */
import {
  createApp,
  type GroupConsumer,
  type GroupConsumerOptions,
  type GroupMember,
  Schema,
} from '@stream-app/core'
import { MemoryBroker, startMemoryRuntime, type WorkerRuntime } from '@stream-app/core/runtime'
import { startWebServer } from '@stream-app/web'
import { afterAll, describe, expect, it } from 'vitest'

const def = createApp({ id: 'route', commitInterval: '100ms' })
  .topic('words', { value: Schema.String, partitions: 4 })
  .table('counts', { default: () => 0 })
  .agent('count', { from: 'words' }, async (words, ctx) => {
    for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
  }).definition

/**
 * Its members' view of the group can lag, as Kafka's members registry (a topic each member
 * writes its claim to) does: while `lagging`, members() answers nothing.
 */
class LaggingBroker extends MemoryBroker {
  lagging = false
  /** Per consumer, in the order they were made: how often members() answered while lagging. */
  readonly lagged: number[] = []
  override groupConsumer(options: GroupConsumerOptions): GroupConsumer {
    const c = super.groupConsumer(options)
    const i = this.lagged.push(0) - 1
    const members = async (): Promise<readonly GroupMember[]> => {
      if (!this.lagging) return c.members()
      this.lagged[i]!++
      return []
    }
    return new Proxy(c, {
      get: (target, prop) => {
        if (prop === 'members') return members
        const v = Reflect.get(target, prop, target) as unknown
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
  }
}

const broker = new MemoryBroker()
const workers: WorkerRuntime[] = []
const start = async (on: MemoryBroker = broker) => {
  const w = await startMemoryRuntime(def, {
    broker: on,
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

  it('a worker whose view of the group lagged behind a rebalance asks again instead of answering 503 until the next one', async () => {
    const lagging = new LaggingBroker()
    const mine: WorkerRuntime[] = []
    try {
      const a = await start(lagging)
      mine.push(a)
      // b joins while a's view lags: a's asks after this rebalance learn nobody.
      lagging.lagging = true
      const b = await start(lagging)
      mine.push(b)
      await a.idle()
      await b.idle()
      // a asks at b's join and once more a second later: both answers lag.
      const deadline = Date.now() + 20_000
      while (lagging.lagged[0]! < 2) {
        if (Date.now() > deadline) throw new Error(`a asked ${lagging.lagged[0]} times while lagging`)
        await new Promise((r) => setTimeout(r, 20))
      }
      const words = ['apple', 'banana', 'cherry', 'date', 'elder', 'fig', 'grape', 'kiwi']
      // The keys b holds have no known holder on a (its view is what the lag left it).
      const statuses = await Promise.all(
        words.map(async (w) => (await fetch(`${a.url}/tables/counts/${w}`)).status),
      )
      expect(statuses.filter((s) => s === 503).length, JSON.stringify(statuses)).toBeGreaterThan(0)
      lagging.lagging = false
      // No rebalance comes now: a must learn b's partitions by asking again on a key it cannot place.
      for (const w of words) {
        const last: { status: number; body: unknown }[] = []
        const until = Date.now() + 20_000
        for (;;) {
          const res = await fetch(`${a.url}/tables/counts/${w}`)
          last.push({ status: res.status, body: await res.json() })
          if (res.status === 200) break
          if (Date.now() > until) throw new Error(`${w} on a: ${JSON.stringify(last.slice(-3))}`)
          await new Promise((r) => setTimeout(r, 50))
        }
        expect(last.at(-1)!.body).toEqual({ key: w, value: 0 })
      }
    } finally {
      for (const w of mine) {
        await w.stop()
        workers.splice(workers.indexOf(w), 1)
      }
      await lagging.close()
    }
  })
})
