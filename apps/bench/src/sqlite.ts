/**
 * Workloads of the durable state on one machine:
 * - "sqlite-table": word count over 1M messages with 10k distinct keys,
 *   changelog on, on the sqlite:// store next to the memory store (same run);
 * - "sqlite-broker produce/consume": 1M 100-byte messages through the sqlite://
 *   broker next to raw better-sqlite3 inserts/selects of the same rows;
 * - "recovery": rebuilding a table of 1M keys from the sqlite store, and from the
 *   changelog alone, next to a raw SELECT of the same rows.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, Schema, type Store } from '@stream-app/core'
import { MemoryBroker, MemoryStore, makeLogger, resolveConfig, startRuntime } from '@stream-app/core/runtime'
import { openSqliteStore } from '@stream-app/sqlite'
import { benchBrokerThroughput } from '@stream-app/sqlite/bench'
import Database from 'better-sqlite3'
import { type Result, rssMb } from './report.ts'

const wordCount = () =>
  createApp({ id: 'bench-wc', commitInterval: '2.8s' })
    .topic('words', { value: Schema.String, partitions: 8 })
    .table('counts', { default: () => 0 })
    .agent('count', { from: 'words' }, async (words, ctx) => {
      for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
    }).definition

async function preloaded(n: number): Promise<MemoryBroker> {
  const broker = new MemoryBroker()
  await broker.ensureTopics([{ name: 'words', partitions: 8 }])
  const batch = []
  for (let i = 0; i < n; i++) {
    const word = `word-${i % 10_000}`
    batch.push({
      topic: 'words',
      partition: i % 8,
      key: Buffer.from(word),
      value: Buffer.from(JSON.stringify(word)),
      timestamp: 0,
    })
    if (batch.length === 10_000) broker.append(batch.splice(0))
  }
  broker.append(batch)
  return broker
}

async function runWordCount(n: number, store: Store): Promise<number> {
  const def = wordCount()
  const broker = await preloaded(n)
  const t0 = performance.now()
  const w = await startRuntime(def, {
    broker,
    store,
    log: makeLogger({ level: 'warn' }),
    config: resolveConfig(def.config, { broker: 'memory://', store: 'memory://', web: { enabled: false } }),
    closeBroker: true,
  })
  await w.idle({ timeout: '5m' })
  await w.commit()
  const s = (performance.now() - t0) / 1000
  if (w.inspect.tableSize('counts') !== 10_000) throw new Error('word count miscounted')
  await w.stop()
  return n / s
}

export async function benchSqliteTable(n = 1_000_000): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'stream-app-bench-'))
  try {
    let mem = 0
    let sql = 0
    for (let i = 0; i < 2; i++) {
      mem = Math.max(mem, await runWordCount(n, new MemoryStore()))
      sql = Math.max(sql, await runWordCount(n, openSqliteStore({ path: join(dir, `store-${i}.sqlite`) })))
    }
    return {
      workload: 'sqlite-table (word count, 10k keys, changelog on)',
      messages: n,
      rate: sql,
      baseline: 'the same workload on the memory store',
      baseline_rate: mem,
      ratio: sql / mem,
      target: 0.5,
      rss_mb: rssMb(),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function benchSqliteBroker(n = 1_000_000): Promise<Result[]> {
  const r = await benchBrokerThroughput(n)
  return [
    {
      workload: 'sqlite-broker produce (100 B, batches of 2000)',
      messages: n,
      rate: r.produceRate,
      baseline: 'raw better-sqlite3 insert of the same rows',
      baseline_rate: r.rawInsertRate,
      ratio: r.produceRate / r.rawInsertRate,
      target: 0.5,
      rss_mb: rssMb(),
    },
    {
      workload: 'sqlite-broker consume (group fetch)',
      messages: n,
      rate: r.consumeRate,
      baseline: 'raw better-sqlite3 select of the same rows',
      baseline_rate: r.rawSelectRate,
      ratio: r.consumeRate / r.rawSelectRate,
      target: 0.5,
      rss_mb: rssMb(),
    },
  ]
}

/** Recovery of a 1M-key table: from the store, and from the changelog only; next to a raw SELECT. */
export async function benchRecovery(keys = 1_000_000): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'stream-app-bench-'))
  try {
    const def = createApp({ id: 'bench-rec', commitInterval: '1h' })
      .topic('in', { value: Schema.Number, partitions: 8 })
      .table('big', { default: () => 0, partitions: 8 })
      .timer('never', { every: '1d' }, () => {}).definition
    const broker = new MemoryBroker()
    const storePath = join(dir, 'store.sqlite')
    const config = resolveConfig(def.config, {
      broker: 'memory://',
      store: 'memory://',
      web: { enabled: false },
    })
    const start = (store: Store) =>
      startRuntime(def, {
        broker,
        store,
        log: makeLogger({ level: 'warn' }),
        config,
        closeBroker: false,
      })
    // fill: a worker writes 1M keys through the table API and commits (changelog + store)
    const w = await start(openSqliteStore({ path: storePath }))
    const big = (w.ctx.tables as Record<string, { set: (k: string, v: number) => void }>).big!
    for (let i = 0; i < keys; i++) big.set(`key-${i}`, i)
    await w.commit()
    await w.stop()

    const timeStart = async (store: Store) => {
      const t0 = performance.now()
      const r = await start(store)
      const s = (performance.now() - t0) / 1000
      if (r.inspect.tableSize('big') !== keys) throw new Error('recovery lost keys')
      await r.stop()
      return keys / s
    }
    const fromStore = await timeStart(openSqliteStore({ path: storePath }))
    const fromChangelog = await timeStart(new MemoryStore())
    const db = new Database(storePath, { readonly: true })
    const t0 = performance.now()
    let n = 0
    for (const _ of db.prepare('SELECT key, value FROM table_rows').iterate()) n++
    const raw = n / ((performance.now() - t0) / 1000)
    db.close()
    return [
      {
        workload: 'recovery of 1M keys from the sqlite store',
        messages: keys,
        rate: fromStore,
        baseline: 'raw better-sqlite3 SELECT of the same rows',
        baseline_rate: raw,
        ratio: fromStore / raw,
        target: 0,
        rss_mb: rssMb(),
        seconds: keys / fromStore,
      },
      {
        workload: 'recovery of 1M keys from the changelog (empty store)',
        messages: keys,
        rate: fromChangelog,
        baseline: 'raw better-sqlite3 SELECT of the same rows',
        baseline_rate: raw,
        ratio: fromChangelog / raw,
        target: 0,
        rss_mb: rssMb(),
        seconds: keys / fromChangelog,
      },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
