/** Kafka transactions (exactly-once) on the real broker: visibility to read_committed readers and KIP-447 offsets. */
import { type Broker, BrokerError, MemoryBroker } from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaReader } from '../src/index.ts'
import { buf, drain, openBroker, text, uniq } from './helpers.ts'

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

  it('committed records are visible and aborted ones invisible to read_committed', async () => {
    const topic = uniq('txn-vis')
    await b.ensureTopics([{ name: topic, partitions: 1 }])
    const tx = b.transactionalProducer!(uniq('txn-id'))
    await tx.begin()
    const meta = await tx.send([rec(topic, 'c0'), rec(topic, 'c1'), rec(topic, 'c2')])
    expect(meta.map((m) => m.offset)).toEqual([0, 1, 2])
    await tx.commit()
    await tx.begin()
    await tx.send([rec(topic, 'aborted0'), rec(topic, 'aborted1')])
    await tx.abort()
    await tx.begin()
    await tx.send([rec(topic, 'after')])
    await tx.commit()
    await tx.close()

    const committed = b.reader([{ topic, partition: 0, offset: 0 }], { readCommitted: true })
    const seen = await drain(committed, 4)
    for (let i = 0; i < 3; i++)
      seen.push(...(await committed.fetch({ maxRecords: 100, maxWaitMs: 100 })).flatMap((x) => x.records))
    expect(seen.map((r) => text(r.value))).toEqual(['c0', 'c1', 'c2', 'after'])
    // The last record is at offset 7 but the log ends with its commit marker: the end offset is 9, and
    // position() (unlike "last record + 1") says the reader got there.
    expect(seen.at(-1)!.offset).toBe(7)
    const [end] = await b.endOffsets([{ topic, partition: 0 }])
    expect(end!.offset).toBe(9)
    expect((committed as KafkaReader).position({ topic, partition: 0 })).toBe(9)
    await committed.close()

    const uncommitted = b.reader([{ topic, partition: 0, offset: 0 }])
    expect((await drain(uncommitted, 6)).map((r) => text(r.value))).toEqual([
      'c0',
      'c1',
      'c2',
      'aborted0',
      'aborted1',
      'after',
    ])
    await uncommitted.close()
  })

  it('sendOffsets commits the group offsets with the transaction, and an abort discards them', async () => {
    const input = uniq('txn-in')
    const output = uniq('txn-out')
    const group = uniq('txn-grp')
    await b.ensureTopics([
      { name: input, partitions: 1 },
      { name: output, partitions: 1 },
    ])
    await b.producer().send(['a', 'b', 'c', 'd'].map((v) => rec(input, v)))
    const listener = { onAssign: async () => {}, onRevoke: async () => {} }
    const consumer = b.groupConsumer({ groupId: group, topics: [input], listener, readCommitted: true })
    await consumer.start()
    const got = await drain(consumer, 4)
    const tx = b.transactionalProducer!(uniq('txn-id'))

    // begin → send → sendOffsets → commit: the processed offsets become the group's committed offsets.
    await tx.begin()
    await tx.send(got.slice(0, 2).map((r) => rec(output, `${text(r.value)}!`)))
    await tx.sendOffsets(consumer, [{ topic: input, partition: 0, offset: 2 }])
    await tx.commit()
    expect(await consumer.committed([{ topic: input, partition: 0 }])).toEqual([
      { topic: input, partition: 0, offset: 2 },
    ])

    // An aborted transaction neither writes nor moves the offsets.
    await tx.begin()
    await tx.send(got.slice(2).map((r) => rec(output, `${text(r.value)}!`)))
    await tx.sendOffsets(consumer, [{ topic: input, partition: 0, offset: 4 }])
    await tx.abort()
    expect(await consumer.committed([{ topic: input, partition: 0 }])).toEqual([
      { topic: input, partition: 0, offset: 2 },
    ])

    const out = b.reader([{ topic: output, partition: 0, offset: 0 }], { readCommitted: true })
    const written = await drain(out, 2)
    for (let i = 0; i < 3; i++)
      written.push(...(await out.fetch({ maxRecords: 100, maxWaitMs: 100 })).flatMap((x) => x.records))
    expect(written.map((r) => text(r.value))).toEqual(['a!', 'b!'])
    await out.close()

    const foreign = new MemoryBroker().groupConsumer({ groupId: group, topics: [input], listener })
    await tx.begin()
    await expect(tx.sendOffsets(foreign, [{ topic: input, partition: 0, offset: 1 }])).rejects.toBeInstanceOf(
      BrokerError,
    )
    await tx.abort()
    await tx.close()
    await consumer.close()
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
