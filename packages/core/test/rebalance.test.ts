/**
 * The runtime across rebalances and failures, on the memory broker with
 * several workers in one group: a revoke hands a partition over cleanly, a
 * tick that fires while recovering keeps its beat, a worker whose state cannot
 * load stops itself, and a start that fails half way closes what it opened.
 */
import { describe, expect, it } from 'vitest'
import { type AppDefinition, BrokerError, createApp, Schema, type TableStore } from '../src/index.ts'
import type { Producer, TopicPartition, TopicPartitionOffset, TopicSpec } from '../src/ports/index.ts'
import {
  MemoryBroker,
  MemoryStore,
  partitionForKey,
  startMemoryRuntime,
  type WorkerRuntime,
} from '../src/runtime/index.ts'
import { captureStderr, running } from './helpers.ts'

const start = (
  def: AppDefinition,
  broker: MemoryBroker,
  options: { store?: MemoryStore; testClockAt?: number; closeBroker?: boolean; logLevel?: 'warn' } = {},
): Promise<WorkerRuntime> => startMemoryRuntime(def, { broker, closeBroker: false, ...options })

/** A key whose partition (of `n`) is `p`: tables hold a key in its own partition. */
const keyIn = (p: number, n: number) => {
  for (let i = 0; ; i++) if (partitionForKey(Buffer.from(`k${i}`), n) === p) return `k${i}`
}

const until = async (what: string, check: () => boolean, ms = 5000, state?: () => unknown) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${state ? `: ${JSON.stringify(state())}` : ''}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

describe('rebalances', () => {
  it('a revoke lets the handler finish the record it holds and commits it before the partition moves', async () => {
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    let handled = 0
    let inside = false
    const def = createApp({ id: 'handover', commitInterval: '1h' })
      .topic('in', { value: Schema.String, partitions: 2 })
      .table('counts', { default: () => 0 })
      .agent('count', { from: 'in' }, async (s, ctx) => {
        for await (const v of s) {
          handled++
          if (handled === 1) {
            inside = true
            await held
          }
          ctx.tables.counts.update(v, (n) => n + 1)
        }
      }).definition
    const broker = new MemoryBroker()
    const a = await start(def, broker)
    // Partition 1 moves to the second worker when it joins (members share partitions in join order).
    const k = keyIn(1, 2)
    await a.topicHandles.in!.send(k, { key: k })
    await a.topicHandles.in!.send(k, { key: k })
    await until('the first record in the handler', () => inside)
    setTimeout(release, 100)
    const b = await start(def, broker)
    await a.idle()
    await b.idle()
    await b.stop()
    await a.stop()
    // Each record was handled once, and the changelog (read by a third worker) holds the exact count.
    expect(handled).toBe(2)
    const c = await start(def, broker)
    try {
      expect((c.ctx.tables as { counts: { get(k: string): number } }).counts.get(k)).toBe(2)
    } finally {
      await c.stop()
    }
  })

  it('a timer tick that fires while the worker recovers keeps the timer going', async () => {
    let runs = 0
    const def = createApp({ id: 'tick' })
      .topic('in', { value: Schema.String, partitions: 1 })
      .timer('beat', { every: '1s' }, () => {
        runs++
      }).definition
    const w = await start(def, new MemoryBroker(), { testClockAt: Date.now() })
    const clock = w.testClock!
    try {
      await clock.advance(1000)
      expect(runs).toBe(1)
      // A rebalance's recovery in progress when the beat comes: skipped, not stopped.
      running(w).state = 'recovering'
      await clock.advance(1000)
      expect(runs).toBe(1)
      running(w).state = 'running'
      await clock.advance(1000)
      await clock.advance(1000)
      expect(runs).toBe(3)
    } finally {
      await w.stop()
    }
  })
})

describe('state across a rebalance', () => {
  const N = 400
  const def = createApp({ id: 'kept', commitInterval: '20ms' })
    .topic('events', { key: Schema.String, value: Schema.Number, partitions: 2 })
    .table('sums', { default: () => 0 })
    .agent('sum', { from: 'events' }, async (events, ctx) => {
      for await (const e of events.events()) ctx.tables.sums.update(e.key, (v) => v + e.value)
    }).definition

  it('a partition that comes back replays only the changelog written while it was away', async () => {
    const broker = new MemoryBroker()
    const a = await start(def, broker)
    let b: WorkerRuntime | undefined
    try {
      const keys = Array.from({ length: N }, (_, i) => `k${i}`)
      const onP1 = keys.filter((k) => partitionForKey(Buffer.from(k), 2) === 1)
      for (const k of keys) await a.topicHandles.events!.send(1, { key: k })
      await a.idle()
      await a.commit()
      const sums = running(a).tables.get('sums')!
      b = await start(def, broker)
      await until('partition 1 to move to b', () => !sums.owned.has(1))
      // While b owns partition 1, five of its keys change.
      for (const k of onP1.slice(0, 5)) await b.topicHandles.events!.send(10, { key: k })
      await b.idle()
      await b.commit()
      // a keeps partition 1's store rows: they are a snapshot as of its last commit of them.
      expect([...sums.store.scan(1, 10_000)].flat().length).toBe(onP1.length)
      const before = a.sensor.snapshot().recoveries.records
      await b.stop()
      await until('partition 1 to come back to a', () => sums.owned.has(1))
      await a.idle()
      // Only what b wrote is replayed (at most one changelog record per change), not the partition's whole changelog.
      const replayed = a.sensor.snapshot().recoveries.records - before
      expect(replayed).toBeGreaterThan(0)
      expect(replayed).toBeLessThanOrEqual(5)
      const view = a.ctx.tables as Record<string, { get(k: string): number }>
      for (const k of onP1.slice(0, 5)) expect(view.sums!.get(k)).toBe(11)
      for (const k of keys.slice(0, 50)) if (!onP1.slice(0, 5).includes(k)) expect(view.sums!.get(k)).toBe(1)
      expect(sums.rows.size).toBe(N)
    } finally {
      await b?.stop()
      await a.stop()
      await broker.close()
    }
  })
})

/** Refuses changelog sends (for good) and changelog offset reads (for now), as many times as set. */
class FlakyBroker extends MemoryBroker {
  refuseChangelogSends = 0
  unreachableChangelogReads = 0
  override producer(): Producer {
    const p = super.producer()
    return {
      ...p,
      send: async (records) => {
        if (this.refuseChangelogSends > 0 && records.some((r) => r.topic.endsWith('-changelog'))) {
          this.refuseChangelogSends--
          throw new BrokerError('injected: the changelog write is refused', false)
        }
        return p.send(records)
      },
    }
  }
  /** Changelog offsets fail with a broker error that does not say it is retriable (counted). */
  lostChangelog = false
  lostChangelogReads = 0
  override async endOffsets(tps: readonly TopicPartition[]): Promise<TopicPartitionOffset[]> {
    if (this.unreachableChangelogReads > 0 && tps.some((tp) => tp.topic.endsWith('-changelog'))) {
      this.unreachableChangelogReads--
      throw new BrokerError('injected: the broker is away', true)
    }
    if (this.lostChangelog && tps.some((tp) => tp.topic.endsWith('-changelog'))) {
      this.lostChangelogReads++
      throw new BrokerError('injected: the changelog is gone', false)
    }
    return super.endOffsets(tps)
  }
}

class FailingStore extends MemoryStore {
  failing = false
  override table(name: string): TableStore {
    const t = super.table(name)
    return {
      scan: (partition, size) => {
        if (this.failing) throw new Error('the table file is unreadable')
        return t.scan(partition, size)
      },
      persistedOffsets: (p) => t.persistedOffsets(p),
      apply: (c, o) => t.apply(c, o),
      dropPartitions: (p) => t.dropPartitions(p),
      close: () => t.close(),
    }
  }
}

describe('failures', () => {
  it('a failed commit rewinds: nothing is processed until the tables are rebuilt, waiting out a broker that is away', async () => {
    const def = createApp({ id: 'rewind', commitInterval: '10ms' })
      .topic('events', { key: Schema.String, value: Schema.Number, partitions: 2 })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'events' }, async (events, ctx) => {
        for await (const e of events.events()) ctx.tables.sums.update(e.key, (v) => v + e.value)
      }).definition
    const broker = new FlakyBroker()
    const store = new MemoryStore()
    const keys = ['a', 'b', 'c', 'd', 'e', 'f']
    let w: WorkerRuntime | undefined
    const log = await captureStderr(async () => {
      w = await start(def, broker, { store, logLevel: 'warn' })
      try {
        for (const k of keys) await w.topicHandles.events!.send(1, { key: k })
        await w.idle()
        await w.commit()
        // The next changelog write is refused for good, and the changelog's offsets cannot be read
        // for a while: the rewind must wait for them rather than go on with tables half rebuilt.
        broker.refuseChangelogSends = 1
        broker.unreachableChangelogReads = 3
        for (const k of keys) await w.topicHandles.events!.send(10, { key: k })
        const view = w.ctx.tables as Record<string, { get(k: string): number }>
        await until(
          'every key summed once, after the rewind',
          () => broker.unreachableChangelogReads === 0 && keys.every((k) => view.sums!.get(k) === 11),
          10_000,
          () => ({ reads: broker.unreachableChangelogReads, sums: keys.map((k) => view.sums!.get(k)) }),
        )
        await w.idle()
        await w.commit()
        // Exact: the records of the failed commit were processed again on the rebuilt tables, once.
        for (const k of keys) expect(view.sums!.get(k)).toBe(11)
        expect(w.state).toBe('running')
        // The store holds what the changelog says, as of the last commit.
        const stored = [0, 1].flatMap((p) => [...running(w!).tables.get('sums')!.store.scan(p, 100)].flat())
        expect(stored.map((r) => [r.key, r.value]).sort()).toEqual(keys.map((k) => [k, '11']))
      } finally {
        await w?.stop()
        await broker.close()
      }
    })
    expect(log).toMatch(/commit failed: .*injected: the changelog write is refused/)
    expect(log).toMatch(/rebuilding after a failed commit: .*injected: the broker is away; retrying in \d+ms/)
    expect(log).toMatch(/rewound to the last commit after a failed commit/)
  })

  it('a rewind gives up on a broker error not said to be retriable after a minute of the worker clock', async () => {
    const def = createApp({ id: 'give-up', commitInterval: '1h' })
      .table('counts', { default: () => 0, partitions: 1 })
      .timer('bump', { every: '1h' }, (ctx) => void ctx.tables.counts.update('a', (v) => v + 1)).definition
    const broker = new FlakyBroker()
    let w: WorkerRuntime | undefined
    let failed: Promise<string> | undefined
    const log = await captureStderr(async () => {
      w = await start(def, broker, { testClockAt: 0, logLevel: 'warn' })
      try {
        const clock = w.testClock!
        await clock.advance(3_600_000)
        await w.commit()
        broker.refuseChangelogSends = 1
        broker.lostChangelog = true
        await clock.advance(3_600_000)
        failed = w.commit().then(
          () => 'committed',
          (e: unknown) => String(e),
        )
        await until(
          'the rewind to retry',
          () => broker.lostChangelogReads > 0,
          5000,
          () => w!.state,
        )
        // The backoff and the give-up run on the test clock: still trying after 50 s of it.
        await clock.advance(50_000)
        expect(w.state).toBe('running')
        const tries = broker.lostChangelogReads
        expect(tries).toBeGreaterThan(5)
        await clock.advance(15_000)
        await until(
          'the worker to stop itself',
          () => w!.state === 'stopped',
          5000,
          () => w!.state,
        )
        await expect(w.idle()).rejects.toThrow(
          /rebuilding the tables after a failed commit failed: injected: the changelog is gone/,
        )
        // The commit that failed says why; the clock moved 65 s, the real one hardly at all.
        expect(await failed).toMatch(/injected: the changelog write is refused/)
      } finally {
        await w?.stop()
        await broker.close()
      }
    })
    expect(log).toMatch(
      /rebuilding after a failed commit: injected: the changelog is gone; retrying in \d+ms/,
    )
  })

  it('a worker whose table state cannot load for new partitions stops itself and says why', async () => {
    const seen: number[] = []
    const k = keyIn(1, 2)
    const def = createApp({ id: 'unloadable' })
      .topic('in', { value: Schema.Number, partitions: 2 })
      .table('sums', { default: () => 0 })
      .agent('sum', { from: 'in' }, async (s, ctx) => {
        for await (const n of s) {
          seen.push(n)
          ctx.tables.sums.update(k, (x) => x + n)
        }
      }).definition
    const broker = new MemoryBroker()
    const store = new FailingStore()
    const a = await start(def, broker, { store })
    const b = await start(def, broker)
    await a.topicHandles.in!.send(7, { key: k })
    await b.idle()
    expect(seen).toEqual([7])
    // The second worker leaves: partition 1 comes back to the first, whose store now fails.
    store.failing = true
    await b.stop()
    await a.done
    expect(a.state).toBe('stopped')
    expect(a.fatal?.message).toMatch(/loading the state of in\[1\].*the table file is unreadable/)
    expect(seen).toEqual([7])
  })

  it('a start that fails half way closes the broker it was given to close', async () => {
    let closed = false
    class Unready extends MemoryBroker {
      override async ensureTopics(_specs: readonly TopicSpec[]): Promise<void> {
        throw new Error('topics cannot be created')
      }
      override async close(): Promise<void> {
        closed = true
        await super.close()
      }
    }
    const def = createApp({ id: 'halfway' }).topic('in', { value: Schema.String }).definition
    await expect(start(def, new Unready(), { closeBroker: true })).rejects.toThrow('topics cannot be created')
    expect(closed).toBe(true)
  })
})
