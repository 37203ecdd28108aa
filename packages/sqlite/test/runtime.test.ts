/**
 * The whole core runtime on the sqlite:// adapters: a word count (agent
 * updating a table, yielding to a sink topic) processes what is sent, and after
 * a restart on the same files its table state is back without reprocessing.
 * Run at-least-once (table store in its own file) and exactly-once (store in
 * the broker's database, one transaction per commit).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type App, createApp, Schema, type Store, type Worker } from '@stream-app/core'
import {
  makeLogger,
  resolveConfig,
  startRuntime,
  type WorkerRuntime,
  workerFacade,
} from '@stream-app/core/runtime'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteBroker, openSqliteStore, type SqliteBroker } from '../src/index.ts'
import { tempDir, text } from './helpers.ts'

const running: WorkerRuntime[] = []
afterEach(async () => {
  for (const rt of running.splice(0)) await rt.stop()
})

let processed = 0
const app = createApp({ id: 'wc', commitInterval: '200ms' })
  .topic('words', { key: Schema.String, value: Schema.String, partitions: 4 })
  .topic('counts', {
    key: Schema.String,
    value: Schema.Struct({ word: Schema.String, count: Schema.Number }),
  })
  .table('word-counts', { default: () => 0 })
  .agent('count', { from: 'words', sink: ['counts'] }, async function* (words, ctx) {
    for await (const word of words) {
      processed++
      ctx.tables['word-counts'].update(word, (n) => n + 1)
      yield { word, count: ctx.tables['word-counts'].get(word) }
    }
  })

type WordCount = typeof app extends App<infer R> ? R : never

async function start(
  brokerPath: string,
  storeOf: (b: SqliteBroker) => Store,
  guarantee: 'at_least_once' | 'exactly_once',
) {
  const broker = openSqliteBroker({ path: brokerPath, maintenanceIntervalMs: 0 })
  const store = storeOf(broker)
  const rt = await startRuntime(app.definition, {
    broker,
    store,
    log: makeLogger({ level: 'warn', name: 'wc' }),
    config: resolveConfig(app.definition.config, {
      broker: `sqlite://${brokerPath}`,
      store: store.url,
      web: { enabled: false },
      guarantee,
    }),
    closeBroker: true,
  })
  running.push(rt)
  return { rt, worker: workerFacade(rt) as unknown as Worker<WordCount> }
}

async function sinkValues(brokerPath: string): Promise<string[]> {
  const b = openSqliteBroker({ path: brokerPath, maintenanceIntervalMs: 0 })
  try {
    const partitions = (await b.partitions('counts'))!
    const ends = await b.endOffsets(
      Array.from({ length: partitions }, (_, partition) => ({ topic: 'counts', partition })),
    )
    const r = b.reader(ends.map((e) => ({ ...e, offset: 0 })))
    const out: string[] = []
    for (;;) {
      const batches = await r.fetch({ maxRecords: 1000, maxWaitMs: 0 })
      if (!batches.length) break
      for (const x of batches) for (const rec of x.records) out.push(text(rec.value)!)
    }
    return out.sort()
  } finally {
    await b.close()
  }
}

const stopLast = async () => {
  const rt = running.pop()!
  await rt.stop()
}

describe.each([
  ['at_least_once', (dir: string) => () => openSqliteStore({ path: join(dir, 'wc', 'store.sqlite') })],
  ['exactly_once', () => (b: SqliteBroker) => b.atomic.store()],
] as const)('the core runtime on sqlite:// (%s)', (guarantee, makeStore) => {
  it('counts words, survives a restart on the same files, and reprocesses nothing', async () => {
    const dir = tempDir()
    const brokerPath = join(dir, 'broker.sqlite')
    const storeOf = makeStore(dir)
    processed = 0

    const first = await start(brokerPath, storeOf, guarantee)
    for (const w of ['apple', 'pear', 'apple', 'fig', 'apple'])
      await first.worker.topics.words.send(w, { key: w })
    await first.worker.idle()
    const counts = first.worker.tables['word-counts']
    expect([counts.get('apple'), counts.get('pear'), counts.get('fig')]).toEqual([3, 1, 1])
    expect(processed).toBe(5)
    await stopLast()
    expect(await sinkValues(brokerPath)).toEqual(
      [
        { word: 'apple', count: 1 },
        { word: 'apple', count: 2 },
        { word: 'apple', count: 3 },
        { word: 'fig', count: 1 },
        { word: 'pear', count: 1 },
      ].map((v) => JSON.stringify(v)),
    )

    const second = await start(brokerPath, storeOf, guarantee)
    await second.worker.idle()
    const again = second.worker.tables['word-counts']
    expect([again.get('apple'), again.get('pear'), again.get('fig')]).toEqual([3, 1, 1])
    expect(processed).toBe(5)
    // the state came from the store, not from replaying the changelog
    expect(second.rt.sensor.snapshot().recoveries.records).toBe(0)
    await second.worker.topics.words.send('pear', { key: 'pear' })
    await second.worker.idle()
    expect(again.get('pear')).toBe(2)
    expect(processed).toBe(6)
    await stopLast()
    expect((await sinkValues(brokerPath)).length).toBe(6)
  })
})

describe('the core runtime on sqlite:// after losing its table store', () => {
  it('rebuilds the table from the changelog in the broker file', async () => {
    const dir = tempDir()
    const brokerPath = join(dir, 'broker.sqlite')
    const storePath = join(dir, 'wc', 'store.sqlite')
    processed = 0
    const first = await start(brokerPath, () => openSqliteStore({ path: storePath }), 'at_least_once')
    for (const w of ['kiwi', 'kiwi', 'lime']) await first.worker.topics.words.send(w, { key: w })
    await first.worker.idle()
    await stopLast()
    rmSync(join(dir, 'wc'), { recursive: true })

    const second = await start(brokerPath, () => openSqliteStore({ path: storePath }), 'at_least_once')
    await second.worker.idle()
    const counts = second.worker.tables['word-counts']
    expect([counts.get('kiwi'), counts.get('lime')]).toEqual([2, 1])
    expect(second.rt.sensor.snapshot().recoveries.records).toBeGreaterThan(0)
    expect(processed).toBe(3)
    await stopLast()
  })
})
