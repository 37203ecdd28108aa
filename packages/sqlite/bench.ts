/**
 * Benchmarks of the sqlite:// broker against raw better-sqlite3 on the same
 * rows, in the same run and on the same disk, so the ratio says what the
 * broker's bookkeeping costs (offsets, headers, record objects). Exported for
 * `pnpm bench`; run directly with `node --import tsx packages/sqlite/bench.ts [n]`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ProduceRecord } from '@stream-app/core'
import Database from 'better-sqlite3'
import { openSqliteBroker } from './src/index.ts'

export interface BrokerThroughput {
  readonly n: number
  readonly batch: number
  readonly partitions: number
  /** messages per second through the broker's producer (batches of `batch`) */
  readonly produceRate: number
  /** messages per second through a group consumer's fetch */
  readonly consumeRate: number
  /** messages per second inserted into a plain table with the same columns, same batches */
  readonly rawInsertRate: number
  /** messages per second selected back from that plain table, same batch size */
  readonly rawSelectRate: number
}

export interface BenchOptions {
  readonly batch?: number
  readonly partitions?: number
  /** value size in bytes (default 100) */
  readonly valueSize?: number
}

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000))

/** Produce then consume n messages of 100 bytes through the broker, next to the raw rate of the same rows. */
export async function benchBrokerThroughput(
  n = 1_000_000,
  options: BenchOptions = {},
): Promise<BrokerThroughput> {
  const batch = options.batch ?? 2_000
  const partitions = options.partitions ?? 4
  const value = Buffer.alloc(options.valueSize ?? 100, 0x61)
  const keys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`key-${String(i).padStart(12, '0')}`))
  const now = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'stream-app-bench-'))
  try {
    // -- raw better-sqlite3: a plain rowid table, same columns, same transactions
    const db = new Database(join(dir, 'raw.sqlite'))
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(
      'CREATE TABLE raw (id INTEGER PRIMARY KEY, part INTEGER, timestamp INTEGER, key BLOB, value BLOB)',
    )
    const insert = db.prepare('INSERT INTO raw (part, timestamp, key, value) VALUES (?, ?, ?, ?)')
    const insertBatch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) insert.run(i % partitions, now, keys[i % keys.length], value)
    })
    let t = performance.now()
    for (let i = 0; i < n; i += batch) insertBatch(i, Math.min(n, i + batch))
    const rawInsertRate = rate(n, performance.now() - t)
    const select = db
      .prepare<[number, number], unknown[]>(
        'SELECT id, part, timestamp, key, value FROM raw WHERE id > ? ORDER BY id LIMIT ?',
      )
      .raw()
    t = performance.now()
    let seen = 0
    let last = 0
    for (;;) {
      const rows = select.all(last, batch)
      if (!rows.length) break
      seen += rows.length
      last = rows[rows.length - 1]![0] as number
    }
    const rawSelectRate = rate(seen, performance.now() - t)
    db.close()

    // -- the broker
    const broker = openSqliteBroker({ path: join(dir, 'broker.sqlite'), maintenanceIntervalMs: 0 })
    await broker.ensureTopics([{ name: 'bench', partitions }])
    const producer = broker.producer()
    t = performance.now()
    for (let i = 0; i < n; i += batch) {
      const to = Math.min(n, i + batch)
      const records: ProduceRecord[] = new Array(to - i)
      for (let j = i; j < to; j++)
        records[j - i] = {
          topic: 'bench',
          partition: j % partitions,
          key: keys[j % keys.length]!,
          value,
          timestamp: now,
        }
      await producer.send(records)
    }
    const produceRate = rate(n, performance.now() - t)
    const consumer = broker.groupConsumer({
      groupId: 'bench',
      topics: ['bench'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await consumer.start()
    t = performance.now()
    let consumed = 0
    while (consumed < n) {
      const batches = await consumer.fetch({ maxRecords: batch, maxWaitMs: 0 })
      if (!batches.length) break
      for (const b of batches) consumed += b.records.length
    }
    const consumeRate = rate(consumed, performance.now() - t)
    if (consumed !== n) throw new Error(`consumed ${consumed} of ${n} messages`)
    await consumer.close()
    await broker.close()
    return { n, batch, partitions, produceRate, consumeRate, rawInsertRate, rawSelectRate }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 1_000_000)
  const r = await benchBrokerThroughput(n)
  console.log(JSON.stringify(r, null, 2))
  console.log(
    `broker/raw: produce ${((100 * r.produceRate) / r.rawInsertRate).toFixed(0)}%, consume ${((100 * r.consumeRate) / r.rawSelectRate).toFixed(0)}%`,
  )
}
