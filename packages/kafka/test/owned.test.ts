/**
 * The broker owns the clients it hands out: its close() closes those still
 * open, each once, and forgets those their user closed. The bookkeeping on its
 * own, then the wiring on the real broker with real readers.
 */
import type { PartitionReader } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { OpenClients } from '../src/owned.ts'
import { buf, openBroker, uniq } from './helpers.ts'

describe('OpenClients', () => {
  /** A client that counts its closes and tells its owner, as the kafka clients do. */
  const client = (owner: OpenClients, fail = false) => {
    const c = {
      closes: 0,
      async close() {
        owner.release(c)
        c.closes++
        if (fail) throw new Error('close failed')
      },
    }
    return owner.adopt(c)
  }

  it('closes each client still open once, forgets those closed by their user, and a failing close stops no other', async () => {
    const owner = new OpenClients()
    const [a, b, c] = [client(owner), client(owner, true), client(owner)]
    await a.close()
    expect(owner.size).toBe(2)
    await owner.closeAll()
    expect([a.closes, b.closes, c.closes]).toEqual([1, 1, 1])
    expect(owner.size).toBe(0)
    await owner.closeAll()
    expect([a.closes, b.closes, c.closes]).toEqual([1, 1, 1])
  })
})

describe('kafka:// broker close', () => {
  it('closes a reader still open, and one its user closed stays closed', async () => {
    const b = await openBroker()
    const topic = uniq('own-close')
    let open: PartitionReader | undefined
    let closed: PartitionReader | undefined
    try {
      await b.ensureTopics([{ name: topic, partitions: 1 }])
      await b.producer().send([{ topic, partition: 0, key: null, value: buf('v'), timestamp: Date.now() }])
      open = b.reader([{ topic, partition: 0, offset: 0 }])
      closed = b.reader([{ topic, partition: 0, offset: 0 }])
      await closed.close()
    } finally {
      await b.close()
    }
    // An open reader would return the record (it waits up to 10 s for it); a closed one returns nothing.
    expect(await open!.fetch({ maxRecords: 10, maxWaitMs: 10_000 })).toEqual([])
    expect(await closed!.fetch({ maxRecords: 10, maxWaitMs: 10_000 })).toEqual([])
  })
})
