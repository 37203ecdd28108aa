/** Kafka transactions beyond the conformance suite: a foreign consumer, and taking over from a member that died inside one. */
import { type Broker, BrokerError } from '@stream-app/core'
import { MemoryBroker } from '@stream-app/core/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buf, drain, openBroker, uniq } from './helpers.ts'

describe('kafka:// transactions', () => {
  let b: Broker
  beforeAll(async () => {
    b = await openBroker()
  })
  afterAll(async () => {
    await b.close()
  })

  const rec = (topic: string, v: string) => ({
    topic,
    partition: 0,
    key: buf(v),
    value: buf(v),
    timestamp: Date.now(),
  })

  // What a transaction shows to read_committed readers and sendOffsets/abort are pinned by the broker
  // conformance suite (conformance.test.ts); here what is Kafka's own.
  it("sendOffsets with another broker's consumer is a BrokerError", async () => {
    const input = uniq('txn-foreign')
    await b.ensureTopics([{ name: input, partitions: 1 }])
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const foreign = new MemoryBroker().groupConsumer({ groupId: uniq('txn-grp'), topics: [input], listener })
    const tx = b.transactionalProducer!(uniq('txn-id'))
    try {
      await tx.begin()
      await expect(
        tx.sendOffsets(foreign, [{ topic: input, partition: 0, offset: 1 }]),
      ).rejects.toBeInstanceOf(BrokerError)
      await tx.abort()
    } finally {
      await tx.close()
    }
  })

  it('a member taking over from one that died inside a transaction reads the committed offsets once it expires', async () => {
    const input = uniq('txn-zin')
    const group = uniq('txn-zgrp')
    await b.ensureTopics([{ name: input, partitions: 1 }])
    await b.producer().send(['a', 'b', 'c'].map((v) => rec(input, v)))
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const first = b.groupConsumer({ groupId: group, topics: [input], listener, readCommitted: true })
    await first.start()
    await drain(first, 3)
    const tx = b.transactionalProducer!(uniq('txn-zombie'))
    await tx.begin()
    await tx.sendOffsets(first, [{ topic: input, partition: 0, offset: 1 }])
    await tx.commit()
    // Dies after sending offsets, before committing: nobody ever aborts this transaction.
    await tx.begin()
    await tx.sendOffsets(first, [{ topic: input, partition: 0, offset: 3 }])
    await first.close()

    const other = await openBroker()
    try {
      const next = other.groupConsumer({ groupId: group, topics: [input], listener, readCommitted: true })
      // Unstable until the broker expires the open transaction (librdkafka's own wait gives up sooner).
      expect(await next.committed([{ topic: input, partition: 0 }])).toEqual([
        { topic: input, partition: 0, offset: 1 },
      ])
      await next.close()
    } finally {
      await other.close()
      await tx.close()
    }
  }, 120_000)
})
