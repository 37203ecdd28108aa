/**
 * app.test() restarts a crashed handler without waiting out its backoff, but
 * a handler that throws before it takes any record would throw again at once:
 * restarted instantly, it spun without ever yielding to the event loop and
 * idle() (and the test) hung silently. Such a run waits out its backoff on the
 * test clock instead: idle() times out saying which agent waits and why, the
 * crash is reported, and t.advance() drives the restarts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Registry } from '../src/definition/types.ts'
import { ConfigError, createApp, IdleTimeoutError, Schema, type TestWorker } from '../src/index.ts'
import { messageOf } from '../src/runtime/index.ts'

const workers: TestWorker<Registry>[] = []
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
})

describe('a handler that throws before taking a record, under app.test()', () => {
  it('waits out its backoff on the test clock: idle() says why, and the record is not lost', async () => {
    let starts = 0
    const reported: string[] = []
    const handled: number[] = []
    const app = createApp({ id: 'at-once' }).agent(
      'bad',
      { value: Schema.Number, onError: (e) => void reported.push(messageOf(e)) },
      async (s) => {
        starts++
        // What a join of a set table or a bad groupBy name does: it throws before the first pull.
        if (starts <= 2) throw new ConfigError('no table to join with')
        for await (const n of s) handled.push(n)
      },
    )
    const t = await app.test({ logLevel: 'silent' })
    workers.push(t)
    await t.agents.bad.send(7)
    const err = await t.idle({ timeout: '300ms' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(IdleTimeoutError)
    const message = (err as Error).message
    expect(message).toMatch(
      /^idle\(\): still busy after 300ms: agent 'bad' waits out its restart backoff after a crash \(no table to join with\) with 1 record buffered/,
    )
    expect(message).not.toContain('\n')
    expect({ starts, reported }).toEqual({ starts: 1, reported: ['no table to join with'] })
    // The test clock drives the restarts: 100 ms ± 20%, then twice that.
    await t.advance('120ms')
    expect({ starts, reported: reported.length }).toEqual({ starts: 2, reported: 2 })
    await t.advance('240ms')
    expect(starts).toBe(3)
    // The record was never taken, so nothing acknowledged it: the run that works handles it.
    await t.idle({ timeout: '5s' })
    expect(handled).toEqual([7])
  }, 15_000)

  it('one that always throws at once: idle() rejects in its timeout, the crash reported once', async () => {
    let starts = 0
    const reported: unknown[] = []
    const app = createApp({ id: 'always' }).agent(
      'broken',
      { value: Schema.Number, onError: (e) => void reported.push(e) },
      async () => {
        starts++
        throw new ConfigError("groupBy: no field 'nope'")
      },
    )
    const t = await app.test({ logLevel: 'silent' })
    workers.push(t)
    await t.agents.broken.send(1)
    // Before the fix this never returned: the restarts never let the event loop turn.
    await expect(t.idle({ timeout: '300ms' })).rejects.toThrow(
      /^idle\(\): still busy after 300ms: agent 'broken' waits out its restart backoff after a crash \(groupBy: no field 'nope'\)/,
    )
    expect(starts).toBe(1)
    expect(reported).toHaveLength(1)
    expect(reported[0]).toBeInstanceOf(ConfigError)
  }, 15_000)

  it('a handler that crashes on a record still restarts at once (the clock does not move)', async () => {
    let starts = 0
    const handled: number[] = []
    const app = createApp({ id: 'on-record' }).agent('flaky', { value: Schema.Number }, async (s) => {
      starts++
      for await (const n of s) {
        if (n < 0) throw new Error(`bad number ${n}`)
        handled.push(n)
      }
    })
    const t = await app.test({ logLevel: 'silent' })
    workers.push(t)
    const start = t.now()
    for (const n of [1, -1, 2]) await t.agents.flaky.send(n)
    await t.idle({ timeout: '5s' })
    expect({ starts, handled, now: t.now() }).toEqual({ starts: 2, handled: [1, 2], now: start })
  }, 15_000)
})
