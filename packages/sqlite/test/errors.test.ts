/**
 * What users see when the file is bad or busy: one line naming the file, and
 * `retriable` only where waiting can help.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BrokerError, StoreError } from '@stream-app/core'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { openSqliteBroker, openSqliteStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const junk = (path: string) => writeFileSync(path, Buffer.alloc(8192, 'this is not a database '))

describe('sqlite errors', () => {
  it('a corrupt broker file is a BrokerError naming it', () => {
    const path = join(tempDir(), 'broker.sqlite')
    junk(path)
    let err: unknown
    try {
      openSqliteBroker({ path })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(BrokerError)
    const e = err as BrokerError
    expect(e.message).toContain(path)
    expect(e.message).toMatch(/corrupt or not a SQLite database/)
    expect(e.message).not.toContain('\n')
    expect(e.retriable).toBe(false)
  })

  it('a corrupt store file is a StoreError naming it', () => {
    const path = join(tempDir(), 'store.sqlite')
    junk(path)
    expect(() => openSqliteStore({ path })).toThrow(StoreError)
    expect(() => openSqliteStore({ path })).toThrow(path)
  })

  it('a path that cannot be created is a clear error', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'file'), 'x')
    const path = join(dir, 'file', 'broker.sqlite')
    expect(() => openSqliteBroker({ path })).toThrow(BrokerError)
    expect(() => openSqliteBroker({ path })).toThrow(path)
  })

  it('a database locked by another connection beyond the busy timeout is retriable', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    // another connection takes the write lock and keeps it
    const holder = new Database(path)
    holder.exec('BEGIN IMMEDIATE')
    b.db.pragma('busy_timeout = 50')
    const err = await b
      .producer()
      .send([{ topic: 't', partition: 0, key: null, value: null, timestamp: 0 }])
      .catch((e: unknown) => e)
    holder.exec('ROLLBACK')
    holder.close()
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).retriable).toBe(true)
    expect((err as BrokerError).message).toContain(`${path} is locked`)
    // nothing was lost and the broker works again once the lock is gone
    const [m] = await b.producer().send([{ topic: 't', partition: 0, key: null, value: null, timestamp: 0 }])
    expect(m!.offset).toBe(0)
    await b.close()
  })

  it('a full disk is a BrokerError naming the file, and what was committed before stays', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    await b
      .producer()
      .send([{ topic: 't', partition: 0, key: null, value: Buffer.from('kept'), timestamp: 0 }])
    // cap the file at its current size: the next big batch cannot fit (SQLITE_FULL)
    const pages = b.db.pragma('page_count', { simple: true }) as number
    b.db.pragma(`max_page_count = ${pages}`)
    const big = Array.from({ length: 2000 }, () => ({
      topic: 't',
      partition: 0,
      key: null,
      value: Buffer.alloc(1000, 1),
      timestamp: 0,
    }))
    const err = await b
      .producer()
      .send(big)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).message).toMatch(/^disk full: cannot write .*b\.sqlite/)
    expect((err as BrokerError).retriable).toBe(false)
    expect((await b.endOffsets([{ topic: 't', partition: 0 }]))[0]!.offset).toBe(1)
    await b.close()
    const again = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
    const r = again.reader([{ topic: 't', partition: 0, offset: 0 }])
    const got = await r.fetch({ maxRecords: 10, maxWaitMs: 0 })
    expect(got[0]!.records.map((x) => Buffer.from(x.value!).toString())).toEqual(['kept'])
    await again.close()
  })
})
