/**
 * Consumer groups on one broker file, members in this process (each on its
 * own connection, as separate processes would be): committed offsets survive
 * reopening, partitions are shared co-partitioned, and a partition moves only
 * after its old owner's onRevoke finished (a member kept waiting for one
 * starts after its session timeout + 5 s and takes it later).
 */
import { join } from 'node:path'
import type { GroupConsumer, RebalanceListener, TopicPartition } from '@stream-app/core'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteBroker, type SqliteBroker } from '../src/index.ts'
import { bytes, tempDir, text } from './helpers.ts'

const open: SqliteBroker[] = []
const broker = (path: string) => {
  const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, heartbeatMs: 100 })
  open.push(b)
  return b
}
afterEach(async () => {
  for (const b of open.splice(0)) await b.close()
})

const fmt = (tps: readonly TopicPartition[]) =>
  tps
    .map((tp) => `${tp.topic}:${tp.partition}`)
    .sort()
    .join(',')

/** A listener that logs every call, with who made it, into a shared journal. */
function journaled(name: string, journal: string[], consumer: () => GroupConsumer): RebalanceListener {
  return {
    onAssign: async (tps) => {
      // What the others hold right now must not overlap what we are given.
      journal.push(`${name} assign ${fmt(tps)}`)
      await new Promise((r) => setTimeout(r, 5))
    },
    onRevoke: async (tps) => {
      journal.push(`${name} revoke-start ${fmt(tps)}`)
      await new Promise((r) => setTimeout(r, 30))
      expect(consumer().assignment().length).toBeGreaterThan(0)
      journal.push(`${name} revoke-end ${fmt(tps)}`)
    },
  }
}

describe('sqlite consumer groups', () => {
  it('committed offsets survive reopening the file; a new member resumes there', async () => {
    const path = join(tempDir(), 'b.sqlite')
    let b = broker(path)
    await b.ensureTopics([{ name: 't', partitions: 1 }])
    await b.producer().send(
      [0, 1, 2, 3, 4].map((i) => ({
        topic: 't',
        partition: 0,
        key: null,
        value: bytes(`m${i}`),
        timestamp: i,
      })),
    )
    const quiet: RebalanceListener = { onAssign: async () => {}, onRevoke: async () => {} }
    const c = b.groupConsumer({ groupId: 'g', topics: ['t'], listener: quiet })
    await c.start()
    const got = await c.fetch({ maxRecords: 3, maxWaitMs: 0 })
    expect(got[0]!.records.map((r) => text(r.value))).toEqual(['m0', 'm1', 'm2'])
    await c.commit([{ topic: 't', partition: 0, offset: 3 }])
    await c.close()
    await b.close()

    b = broker(path)
    const c2 = b.groupConsumer({ groupId: 'g', topics: ['t'], listener: quiet })
    expect(await c2.committed([{ topic: 't', partition: 0 }])).toEqual([
      { topic: 't', partition: 0, offset: 3 },
    ])
    await c2.start()
    const rest = await c2.fetch({ maxRecords: 100, maxWaitMs: 0 })
    expect(rest[0]!.records.map((r) => text(r.value))).toEqual(['m3', 'm4'])
    // another group has its own offsets
    const other = b.groupConsumer({ groupId: 'other', topics: ['t'], listener: quiet })
    expect(await other.committed([{ topic: 't', partition: 0 }])).toEqual([])
    await c2.close()
  })

  it('shares partitions co-partitioned between members; onRevoke finishes before the other is assigned', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const a = broker(path)
    const b = broker(path)
    await a.ensureTopics([
      { name: 'in', partitions: 4 },
      { name: 'other', partitions: 4 },
    ])
    const journal: string[] = []
    let ca!: GroupConsumer
    let cb!: GroupConsumer
    ca = a.groupConsumer({
      groupId: 'app',
      topics: ['in', 'other'],
      listener: journaled('A', journal, () => ca),
      memberMetadata: 'http://a',
    })
    await ca.start()
    expect(fmt(ca.assignment())).toBe('in:0,in:1,in:2,in:3,other:0,other:1,other:2,other:3')
    cb = b.groupConsumer({
      groupId: 'app',
      topics: ['in', 'other'],
      listener: journaled('B', journal, () => cb),
      memberMetadata: 'http://b',
    })
    await cb.start()
    // co-partitioned: the same partition numbers of both topics go to the same member
    expect(fmt(ca.assignment())).toBe('in:0,in:2,other:0,other:2')
    expect(fmt(cb.assignment())).toBe('in:1,in:3,other:1,other:3')
    expect(journal).toEqual([
      'A assign in:0,in:1,in:2,in:3,other:0,other:1,other:2,other:3',
      'A revoke-start in:1,in:3,other:1,other:3',
      'A revoke-end in:1,in:3,other:1,other:3',
      'B assign in:1,in:3,other:1,other:3',
    ])
    const members = await ca.members()
    expect(members.map((m) => [m.metadata, fmt(m.assignment)])).toEqual([
      ['http://a', 'in:0,in:2,other:0,other:2'],
      ['http://b', 'in:1,in:3,other:1,other:3'],
    ])

    // each member fetches only its own partitions
    await a.producer().send(
      [0, 1, 2, 3].map((p) => ({
        topic: 'in',
        partition: p,
        key: null,
        value: bytes(`p${p}`),
        timestamp: 0,
      })),
    )
    const fa = await ca.fetch({ maxRecords: 100, maxWaitMs: 1000 })
    const fb = await cb.fetch({ maxRecords: 100, maxWaitMs: 1000 })
    expect(fa.map((x) => x.partition).sort()).toEqual([0, 2])
    expect(fb.map((x) => x.partition).sort()).toEqual([1, 3])

    // B leaves: its partitions go back to A after B's onRevoke
    journal.length = 0
    await cb.close()
    for (let i = 0; i < 100 && ca.assignment().length < 8; i++) await new Promise((r) => setTimeout(r, 20))
    expect(fmt(ca.assignment())).toBe('in:0,in:1,in:2,in:3,other:0,other:1,other:2,other:3')
    expect(journal).toEqual([
      'B revoke-start in:1,in:3,other:1,other:3',
      'B revoke-end in:1,in:3,other:1,other:3',
      'A assign in:1,in:3,other:1,other:3',
    ])
    await ca.close()
  })

  it('a closed member revokes everything and leaves the group', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 2 }])
    const revoked: string[] = []
    const c = b.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: { onAssign: async () => {}, onRevoke: async (tps) => void revoked.push(fmt(tps)) },
    })
    await c.start()
    await c.close()
    expect(revoked).toEqual(['t:0,t:1'])
    const probe = b.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    expect(await probe.members()).toEqual([])
    await expect(c.commit([{ topic: 't', partition: 0, offset: 1 }])).rejects.toThrow(/closed consumer/)
  })

  it('a member whose onAssign fails neither starts nor fetches those partitions; later failures are retried', async () => {
    const b = broker(join(tempDir(), 'b.sqlite'))
    await b.ensureTopics([{ name: 't', partitions: 2 }])
    await b
      .producer()
      .send([0, 1].map((p) => ({ topic: 't', partition: p, key: null, value: bytes(`m${p}`), timestamp: p })))
    const broken = b.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: {
        onAssign: async () => {
          throw new Error('table state failed to load')
        },
        onRevoke: async () => {},
      },
    })
    // start() rejects with the listener's error (a worker whose state cannot load must not run)
    await expect(broken.start()).rejects.toThrow('table state failed to load')
    expect(broken.assignment()).toEqual([])
    expect(await broken.fetch({ maxRecords: 10, maxWaitMs: 0 })).toEqual([])
    await broken.close()

    // after start: the failed partition is given back (not fetched) and claimed again at the next heartbeat
    const calls: string[] = []
    let failNext = false
    const c = b.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: {
        onAssign: async (tps) => {
          calls.push(`${fmt(tps)}${failNext ? ' failed' : ''}`)
          if (failNext) {
            failNext = false
            throw new Error('table state failed to load')
          }
        },
        onRevoke: async () => {},
      },
    })
    await c.start()
    const other = b.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await other.start()
    // Each keeps one partition; which one depends on join order among members (the closed
    // `broken` member may still count), so name the one that moves rather than assume it.
    const kept = c.assignment()
    expect(kept).toHaveLength(1)
    const moved = 1 - kept[0]!.partition
    failNext = true
    await other.close()
    for (let i = 0; i < 200 && fmt(c.assignment()) !== 't:0,t:1'; i++)
      await new Promise((r) => setTimeout(r, 20))
    expect(calls).toEqual(['t:0,t:1', `t:${moved} failed`, `t:${moved}`])
    const got = await c.fetch({ maxRecords: 10, maxWaitMs: 0 })
    expect(got.map((x) => x.partition).sort()).toEqual([0, 1])
    await c.close()
  })

  it('a member whose partitions stay held starts after the session timeout + 5 s, then takes them when let go', async () => {
    const path = join(tempDir(), 'b.sqlite')
    const warned: string[] = []
    const log = { debug() {}, info() {}, warn: (m: string) => void warned.push(m), error() {} }
    const open1 = (o: { log?: typeof log } = {}) => {
      const b = openSqliteBroker({
        path,
        maintenanceIntervalMs: 0,
        heartbeatMs: 100,
        // Long enough that a loaded machine never stalls the test's own 50 ms heartbeat of A past
        // it: were A's row purged as dead, A would rejoin after B and the partitions would swap.
        sessionTimeoutMs: 2500,
        ...o,
      })
      open.push(b)
      return b
    }
    const a = open1()
    const b = open1({ log })
    await a.ensureTopics([{ name: 't', partitions: 2 }])
    let letGo!: () => void
    const holding = new Promise<void>((r) => {
      letGo = r
    })
    const ca = a.groupConsumer({
      groupId: 'g',
      topics: ['t'],
      listener: { onAssign: async () => {}, onRevoke: () => holding },
    })
    await ca.start()
    // A's revoke hangs, and so would its heartbeat: keep its row fresh, as a live but slow member's.
    const fresh = a.db.prepare('UPDATE group_members SET heartbeat_at = ? WHERE grp = ?')
    const beat = setInterval(() => fresh.run(Date.now(), 'g'), 50)
    try {
      const cb = b.groupConsumer({
        groupId: 'g',
        topics: ['t'],
        listener: { onAssign: async () => {}, onRevoke: async () => {} },
      })
      const since = performance.now()
      await cb.start()
      expect(performance.now() - since).toBeGreaterThanOrEqual(7_400)
      expect(cb.assignment()).toEqual([])
      expect(warned.filter((w) => w.includes('still held by another member'))).toHaveLength(1)
      letGo()
      for (let i = 0; i < 1500 && cb.assignment().length === 0; i++)
        await new Promise((r) => setTimeout(r, 20))
      expect(fmt(cb.assignment()), `A holds ${fmt(ca.assignment())}; B warned ${warned.join(' | ')}`).toBe(
        't:1',
      )
      await cb.close()
    } finally {
      clearInterval(beat)
      letGo()
    }
    await ca.close()
  })
})
