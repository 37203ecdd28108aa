/** The whole core runtime on the kafka:// broker: a word-count app, its sink topic, and table recovery after a restart. */
import { type AppDefinition, createApp, Schema, type TableStore } from '@stream-app/core'
import { MemoryStore, workerFacade } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { startKafkaRuntime } from '../src/index.ts'
import { drain, kafkaUrl, openBroker, text, uniq } from './helpers.ts'

const start = async (def: AppDefinition) => {
  const rt = await startKafkaRuntime(def, { url: kafkaUrl() })
  return { rt, worker: workerFacade(rt) }
}

describe('core runtime on kafka://', () => {
  it('counts words into a table and a sink topic, and recovers the table from its changelog after a restart', async () => {
    const id = uniq('wc')
    // Topic names are global on the broker: unique per run, so reruns never see old records.
    const words = `${id}-words` as const
    const counts = `${id}-counts` as const
    const Count = Schema.Struct({ word: Schema.String, count: Schema.Number })
    const app = createApp({ id, topicPartitions: 4, commitInterval: '200ms' })
      .topic(words, { value: Schema.String })
      .topic(counts, { value: Count })
      .table('totals', { default: () => 0 })
      .agent('count', { from: words, sink: [counts] }, async function* (words, ctx) {
        for await (const word of words) {
          const n = ctx.tables.totals.get(word) + 1
          ctx.tables.totals.set(word, n)
          yield { word, count: n }
        }
      })
    const text1 = 'the quick brown fox jumps over the lazy dog the end'.split(' ')
    const first = await start(app.definition)
    for (const w of text1) await first.worker.topics[words]!.send(w, { key: w })
    await first.worker.idle()
    const totals = first.worker.tables.totals!
    expect(totals.get('the')).toBe(3)
    expect(totals.get('fox')).toBe(1)
    expect(totals.get('cat')).toBe(0)
    await first.worker.stop()

    // The sink topic holds one running count per word occurrence, in order per word.
    const b = await openBroker()
    const parts = await b.partitions(counts)
    expect(parts).toBe(4)
    const reader = b.reader(Array.from({ length: 4 }, (_, p) => ({ topic: counts, partition: p, offset: 0 })))
    const sunk = (await drain(reader, text1.length)).map(
      (r) => JSON.parse(text(r.value)!) as { word: string; count: number },
    )
    await reader.close()
    await b.close()
    expect(sunk.filter((c) => c.word === 'the').map((c) => c.count)).toEqual([1, 2, 3])
    expect(sunk).toHaveLength(text1.length)

    // A fresh worker with an empty memory store rebuilds the table from the changelog and resumes after the committed offsets.
    const second = await start(app.definition)
    expect(second.worker.tables.totals!.get('the')).toBe(3)
    await second.worker.topics[words]!.send('the', { key: 'the' })
    await second.worker.idle()
    expect(second.worker.tables.totals!.get('the')).toBe(4)
    expect(second.worker.tables.totals!.get('dog')).toBe(1)
    await second.worker.stop()
  })
})

/** A store whose tables cannot be loaded (a damaged file, say). */
class UnreadableStore extends MemoryStore {
  override table(name: string): TableStore {
    const t = super.table(name)
    return {
      ...t,
      scan: () => {
        throw new Error('the table file is unreadable')
      },
      persistedOffsets: (p) => t.persistedOffsets(p),
      apply: (c, o) => t.apply(c, o),
      dropPartitions: (p) => t.dropPartitions(p),
      close: () => t.close(),
    }
  }
}

describe('core runtime on kafka://, state that cannot load', () => {
  it('refuses to start rather than process partitions whose tables did not load', async () => {
    const id = uniq('unloadable')
    const words = `${id}-words` as const
    const app = createApp({ id, topicPartitions: 2 })
      .topic(words, { value: Schema.String })
      .table('totals', { default: () => 0 })
      .agent('count', { from: words }, async (ws, ctx) => {
        for await (const w of ws) ctx.tables.totals.update(w, (n) => n + 1)
      })
    await expect(
      startKafkaRuntime(app.definition, {
        url: kafkaUrl(),
        logLevel: 'silent',
        store: new UnreadableStore(),
      }),
    ).rejects.toThrow('the table file is unreadable')
  }, 60_000)
})
