/**
 * Production settings on a real Kafka broker (issue 23): autoOffsetReset
 * 'latest' starts a new group at the end as of its assignment (not when the
 * client first fetches, which would skip what is sent in between), and
 * declareTopics false creates nothing and names every missing topic at once.
 */
import { ConfigError, createApp, Schema } from '@stream-app/core'
import { workerFacade } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { startKafkaRuntime } from '../src/index.ts'
import { buf, eventually, kafkaUrl, openBroker, uniq } from './helpers.ts'

describe('production settings on kafka://', () => {
  it("autoOffsetReset 'latest': what was there is skipped, what is sent once started is read", async () => {
    const id = uniq('latest')
    const topic = `${id}-events`
    const b = await openBroker()
    await b.ensureTopics([{ name: topic, partitions: 2 }])
    await b.producer().send(
      [0, 1].map((p) => ({
        topic,
        partition: p,
        key: null,
        value: buf(JSON.stringify(`old${p}`)),
        timestamp: Date.now(),
      })),
    )
    const seen: string[] = []
    const app = createApp({ id, autoOffsetReset: 'latest', commitInterval: '200ms' })
      .topic(topic, { value: Schema.String })
      .agent('see', { from: topic }, async (values) => {
        for await (const v of values) seen.push(v)
      })
    const rt = await startKafkaRuntime(app.definition, { url: kafkaUrl() })
    const w = workerFacade(rt)
    try {
      // Sent the moment the start resolves: before librdkafka would have looked the end up itself.
      for (const p of [0, 1]) await w.topics[topic]!.send(`new${p}`, { partition: p })
      await eventually(() => seen.length >= 2, 20_000, 'both records sent after the start')
      await w.idle()
      expect(seen.sort()).toEqual(['new0', 'new1'])
    } finally {
      await w.stop()
      await b.close()
    }
  })

  it('declareTopics false: one start error lists every missing topic, the members registry too', async () => {
    const id = uniq('nodecl')
    const app = createApp({ id, declareTopics: false })
      .topic(`${id}-orders`, { value: Schema.Number, partitions: 2 })
      .table('totals', { default: () => 0 })
      .agent('sum', { from: `${id}-orders` }, async (orders, ctx) => {
        for await (const n of orders) ctx.tables.totals.update('all', (v) => v + n)
      })
    const err = await startKafkaRuntime(app.definition, { url: kafkaUrl(), logLevel: 'silent' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    for (const t of [
      `${id}-orders`,
      `${id}-totals-changelog`,
      `${id}-__replies`,
      `${id}-__leader`,
      `${id}-__members`,
    ])
      expect(msg).toContain(t)
    const b = await openBroker()
    try {
      expect(await b.partitions(`${id}-orders`)).toBeUndefined()
      expect(await b.partitions(`${id}-__members`)).toBeUndefined()
    } finally {
      await b.close()
    }
  })
})
