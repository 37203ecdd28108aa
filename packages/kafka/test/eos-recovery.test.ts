/**
 * Table recovery under exactly-once must not see aborted changelog records: a
 * worker killed inside a transaction leaves its changelog writes in the log,
 * aborted. A worker that then recovers the table must read the changelog with
 * read_committed, or it takes the aborted values and counts their messages twice.
 */
import { createApp } from '@stream-app/core'
import { workerFacade } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { startKafkaRuntime } from '../src/index.ts'
import { buf, kafkaUrl, openBroker, uniq } from './helpers.ts'

describe('core runtime on kafka:// under exactly-once', () => {
  it('recovers a table from committed changelog records only', async () => {
    const id = uniq('eosrec')
    const words = `${id}-words` as const
    const app = createApp({ id, topicPartitions: 1, guarantee: 'exactly_once', commitInterval: '200ms' })
      .topic(words, { partitions: 1 })
      .table('totals', { default: () => 0 })
      .agent('count', { from: words }, async (ws, ctx) => {
        for await (const w of ws) ctx.tables.totals.update(String(w), (n) => n + 1)
      })
    const changelog = `${id}-totals-changelog`
    const b = await openBroker()
    await b.ensureTopics([{ name: changelog, partitions: 1, compacted: true }])
    const rec = (v: string) => ({
      topic: changelog,
      partition: 0,
      key: buf('the'),
      value: buf(v),
      timestamp: Date.now(),
    })
    // A committed value, then what a worker killed inside its transaction left behind (aborted).
    const tx = b.transactionalProducer!(uniq('eosrec-tx'))
    await tx.begin()
    await tx.send([rec('3')])
    await tx.commit()
    await tx.begin()
    await tx.send([rec('999')])
    await tx.abort()
    await tx.close()
    await b.close()

    const rt = await startKafkaRuntime(app.definition, { url: kafkaUrl() })
    const worker = workerFacade(rt)
    try {
      expect(worker.tables.totals!.get('the')).toBe(3)
    } finally {
      await worker.stop()
    }
  }, 60_000)
})
