/**
 * Set tables (Faust's SetTable): add, discard, has and get per key; the
 * changelog holds one record per add or discard of a member (adding a member
 * twice writes nothing), and a worker with an empty store rebuilds every set
 * from that changelog alone.
 */
import { describe, expect, it } from 'vitest'
import { createApp, Schema } from '../src/index.ts'
import { MemoryBroker } from '../src/runtime/index.ts'
import { startFromChangelog, startOn, tablesOf, topicsOf } from './helpers.ts'

const app = () =>
  createApp({ id: 'sets', logLevel: 'silent' })
    .topic('follows', {
      key: Schema.String,
      value: Schema.Struct({ op: Schema.Literals(['follow', 'unfollow']), who: Schema.String }),
      partitions: 2,
    })
    .setTable('followers', { member: Schema.String })
    .agent('track', { from: 'follows' }, async (events, ctx) => {
      for await (const [user, e] of events.items())
        if (e.op === 'follow') ctx.tables.followers.add(user, e.who)
        else ctx.tables.followers.discard(user, e.who)
    })

describe('set tables', () => {
  it('adds, discards and answers per key, logging each change of a member once', async () => {
    const t = await app().test({ logLevel: 'silent' })
    try {
      const follow = (user: string, who: string, op: 'follow' | 'unfollow' = 'follow') =>
        t.topics.follows.send({ op, who }, { key: user })
      await follow('ann', 'bob')
      await follow('ann', 'cy')
      await follow('ann', 'bob') // again: no change
      await follow('dan', 'ann')
      await follow('ann', 'cy', 'unfollow')
      await follow('ann', 'zed', 'unfollow') // never a member: no change
      await t.idle()
      const followers = t.tables.followers
      expect([...followers.get('ann')]).toEqual(['bob'])
      expect(followers.has('ann', 'bob')).toBe(true)
      expect(followers.has('ann', 'cy')).toBe(false)
      expect([...followers.get('nobody')]).toEqual([])
      expect([...followers.keys()].sort()).toEqual(['ann', 'dan'])
      expect(followers.size).toBe(2)
      await t.commit()
      const log = t.sent('sets-followers-changelog')
      // Operations compacted per member within the commit: bob and dan's ann added, cy's add+discard a tombstone.
      const ops = log.map((r) => [
        Buffer.from(r.key as Uint8Array)
          .toString()
          .replace('\u0000', '|'),
        r.value === null ? null : String(r.value),
      ])
      expect(ops.sort()).toEqual(
        [
          ['"ann"|dan', '"ann"'],
          ['"bob"|ann', '"bob"'],
          ['"cy"|ann', null],
        ].sort(),
      )
    } finally {
      await t.stop()
    }
  })

  it('a worker with an empty store rebuilds every set from the changelog', async () => {
    const broker = new MemoryBroker()
    const def = app().definition
    const a = await startOn(def, broker)
    const follows = topicsOf(a).follows!
    for (let i = 0; i < 50; i++) await follows.send({ op: 'follow', who: `f${i}` }, { key: `u${i % 5}` })
    for (let i = 0; i < 50; i += 2) await follows.send({ op: 'unfollow', who: `f${i}` }, { key: `u${i % 5}` })
    await a.idle()
    await a.stop()
    // A new store: nothing but the changelog to recover from.
    const b = await startFromChangelog(def, broker)
    try {
      type Sets = Record<string, { get(k: string): ReadonlySet<string> }>
      const followers = tablesOf<Sets[string]>(b).followers!
      for (let u = 0; u < 5; u++) {
        const expected = Array.from({ length: 50 }, (_, i) => i)
          .filter((i) => i % 5 === u && i % 2 === 1)
          .map((i) => `f${i}`)
        expect([...followers.get(`u${u}`)].sort()).toEqual(expected.sort())
      }
    } finally {
      await b.stop()
      await broker.close()
    }
  })
})
