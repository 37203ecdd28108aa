/**
 * The broker suite's exactly-once and failure cases: transactions (where a
 * broker offers `transactionalProducer`), atomic commit (where it offers
 * `atomic`), and an unreachable broker (where one can be made cheaply).
 */
import { expect, it } from 'vitest'
import { BrokerError } from '../../src/index.ts'
import type { ProduceRecord, StoreRow } from '../../src/ports/index.ts'
import type { SuiteContext } from './support.ts'
import { bytes, drain, expectFailure, failureOf, records, text, uniq, within } from './support.ts'

const quiet = { onAssign: async () => {}, onRevoke: async () => {} }
const rec = (topic: string, v: string): ProduceRecord => ({
  topic,
  partition: 0,
  key: bytes(v),
  value: bytes(v),
  timestamp: Date.now(),
})

export function exactlyOnceCases(ctx: SuiteContext): void {
  const { options } = ctx
  // memory:// and sqlite:// have no transactional producer: exactly-once there is the atomic commit (sqlite) or nothing (memory).
  if (options.transactions) {
    it('transactions: committed records are visible to read_committed, aborted ones are not', async () => {
      const b = ctx.broker()
      const topic = uniq('txn-vis')
      await b.ensureTopics([{ name: topic, partitions: 1 }])
      const tx = ctx.track(b.transactionalProducer!(uniq('txn-id')))
      await tx.begin()
      expect((await tx.send(['c0', 'c1'].map((v) => rec(topic, v)))).map((m) => m.offset)).toEqual([0, 1])
      await tx.commit()
      await tx.begin()
      await tx.send(['aborted0', 'aborted1'].map((v) => rec(topic, v)))
      await tx.abort()
      await tx.begin()
      await tx.send([rec(topic, 'after')])
      await tx.commit()

      const committed = ctx.track(b.reader([{ topic, partition: 0, offset: 0 }], { readCommitted: true }))
      const seen = await drain(committed, 3)
      seen.push(...(await committed.fetch({ maxRecords: 100, maxWaitMs: 300 })).flatMap((x) => x.records))
      expect(seen.map((r) => text(r.value))).toEqual(['c0', 'c1', 'after'])
      // The log ends in a commit marker: position() says the reader got past it.
      const [end] = await b.endOffsets([{ topic, partition: 0 }])
      expect(committed.position?.({ topic, partition: 0 })).toBe(end!.offset)
      const all = ctx.track(b.reader([{ topic, partition: 0, offset: 0 }]))
      expect((await drain(all, 5)).map((r) => text(r.value))).toEqual([
        'c0',
        'c1',
        'aborted0',
        'aborted1',
        'after',
      ])
    })

    it('transactions: a commit with no transaction begun and a send on a closed producer fail with a BrokerError', async () => {
      const b = ctx.broker()
      const topic = uniq('txn-fail')
      await b.ensureTopics([{ name: topic, partitions: 1 }])
      const tx = ctx.track(b.transactionalProducer!(uniq('txn-id')))
      expectFailure(await failureOf(() => tx.commit()), 'transaction', 'BrokerError')
      await tx.close()
      const err = await failureOf(() => tx.send([rec(topic, 'late')]))
      expectFailure(err, 'transaction', 'BrokerError')
      expect((err as BrokerError).retriable).toBe(false)
    })

    it('transactions: sendOffsets commits group offsets with the transaction, an abort discards them', async () => {
      const b = ctx.broker()
      const input = uniq('txn-in')
      const output = uniq('txn-out')
      await b.ensureTopics([
        { name: input, partitions: 1 },
        { name: output, partitions: 1 },
      ])
      await b.producer().send(['a', 'b', 'c', 'd'].map((v) => rec(input, v)))
      const consumer = ctx.track(
        b.groupConsumer({
          groupId: uniq('txn-group'),
          topics: [input],
          listener: quiet,
          readCommitted: true,
        }),
      )
      await consumer.start()
      const got = await drain(consumer, 4)
      const tx = ctx.track(b.transactionalProducer!(uniq('txn-id')))
      await tx.begin()
      await tx.send(got.slice(0, 2).map((r) => rec(output, `${text(r.value)}!`)))
      await tx.sendOffsets(consumer, [{ topic: input, partition: 0, offset: 2 }])
      await tx.commit()
      expect(await consumer.committed([{ topic: input, partition: 0 }])).toEqual([
        { topic: input, partition: 0, offset: 2 },
      ])
      await tx.begin()
      await tx.send(got.slice(2).map((r) => rec(output, `${text(r.value)}!`)))
      await tx.sendOffsets(consumer, [{ topic: input, partition: 0, offset: 4 }])
      await tx.abort()
      expect(await consumer.committed([{ topic: input, partition: 0 }])).toEqual([
        { topic: input, partition: 0, offset: 2 },
      ])
      const out = ctx.track(b.reader([{ topic: output, partition: 0, offset: 0 }], { readCommitted: true }))
      const written = await drain(out, 2)
      written.push(...(await out.fetch({ maxRecords: 100, maxWaitMs: 300 })).flatMap((x) => x.records))
      expect(written.map((r) => text(r.value))).toEqual(['a!', 'b!'])
    })
  }

  // Only a broker whose log is a local database (sqlite://) can commit with the store in one transaction.
  if (options.atomic) {
    it('atomic commit: appended records, store rows and group offsets land together, or none of them on a throw', async () => {
      const b = ctx.broker()
      const atomic = b.atomic!
      const input = uniq('atomic-in')
      const output = uniq('atomic-out')
      const groupId = uniq('atomic-group')
      const table = uniq('atomic-table')
      await b.ensureTopics([
        { name: input, partitions: 1 },
        { name: output, partitions: 1 },
      ])
      const store = atomic.store()
      ctx.onCleanup(() => store.close())
      const t = store.table(table)
      const rows = (): StoreRow[] => [...t.scan(0, 100)].flat()
      const reader = ctx.track(b.reader([{ topic: output, partition: 0, offset: 0 }]))
      const waiting = reader.fetch({ maxRecords: 10, maxWaitMs: 60_000 })
      const meta = atomic.run((tx) => {
        const m = tx.append(records(output, 0, 1, 'first'))
        store.transaction(() => t.apply([{ partition: 0, key: '"k"', value: '1' }], new Map([[0, 1]])))
        tx.commitOffsets(groupId, [{ topic: input, partition: 0, offset: 1 }])
        return m
      })
      expect(meta.map((m) => [m.topic, m.partition, m.offset])).toEqual([[output, 0, 0]])
      // A fetch waiting for the output wakes for what the atomic commit appended.
      const woken = await within(waiting, 30_000)
      expect(woken === 'timeout' ? woken : woken.flatMap((x) => x.records.map((r) => text(r.value)))).toEqual(
        ['first0'],
      )
      const failure = new Error('handler failed')
      expect(() =>
        atomic.run((tx) => {
          tx.append(records(output, 0, 1, 'second'))
          store.transaction(() => t.apply([{ partition: 0, key: '"k"', value: '2' }], new Map([[0, 2]])))
          tx.commitOffsets(groupId, [{ topic: input, partition: 0, offset: 2 }])
          throw failure
        }),
      ).toThrow(failure)
      expect((await b.endOffsets([{ topic: output, partition: 0 }]))[0]!.offset).toBe(1)
      expect(rows()).toEqual([{ partition: 0, key: '"k"', value: '1' }])
      expect(t.persistedOffsets([0])).toEqual(new Map([[0, 1]]))
      const c = ctx.track(b.groupConsumer({ groupId, topics: [input], listener: quiet }))
      expect(await c.committed([{ topic: input, partition: 0 }])).toEqual([
        { topic: input, partition: 0, offset: 1 },
      ])
      // The next append takes the offset the failed one would have had.
      const [next] = await b.producer().send(records(output, 0, 1, 'third'))
      expect(next!.offset).toBe(1)
    })
  }

  if (options.unreachable) {
    const unreachable = options.unreachable
    it('an unreachable broker fails with a BrokerError of one line, not a hang', async () => {
      const outcome = await within(
        unreachable().then(
          async (b) => {
            await b.close()
            return 'opened'
          },
          (e: unknown) => e,
        ),
        60_000,
      )
      expect(outcome).toBeInstanceOf(BrokerError)
      expectFailure(outcome, 'broker', 'BrokerError')
    })
  }
}
