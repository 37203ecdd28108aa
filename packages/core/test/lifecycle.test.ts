/**
 * The app's lifecycle code under app.test() and on the memory broker: services
 * (start order, ctx.services, stop in reverse after agents, a start failing
 * half way), tasks, hooks (ready, stopping, the rebalance hooks and their
 * deadline), onError on agents, timers and cron jobs, supervisor 'crash', and
 * ctx.signal (a stop, a revoke).
 */
import * as Context from 'effect/Context'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import { afterEach, describe, expect, it } from 'vitest'
import type { Registry } from '../src/definition/types.ts'
import { type AppDefinition, createApp, Schema, type TestWorker } from '../src/index.ts'
import { portsLayer } from '../src/runtime/entry.ts'
import {
  launch,
  MemoryBroker,
  MemoryStore,
  makeLogger,
  resolveConfig,
  startMemoryRuntime,
  type WorkerRuntime,
} from '../src/runtime/index.ts'

const stops: (() => Promise<void>)[] = []
const track = <W extends { stop(): Promise<void> }>(w: W): W => {
  stops.push(() => w.stop())
  return w
}
afterEach(async () => {
  for (const s of stops.splice(0)) await s()
})

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('services', () => {
  it('start in declaration order before agents, reach every ctx, and stop in reverse after the agents', async () => {
    const events: string[] = []
    class Clock extends Context.Service<Clock, { readonly tick: () => string }>()('test/Clock') {}
    const clockLayer = Layer.effect(
      Clock,
      Effect.acquireRelease(
        Effect.sync(() => {
          events.push('start clock')
          return { tick: () => 'tock' }
        }),
        () => Effect.sync(() => void events.push('stop clock')),
      ),
    )
    const app = createApp({ id: 'svc' })
      .service('db', {
        start: async () => {
          events.push('start db')
          return { query: (q: string) => `rows of ${q}` }
        },
        stop: async (db) => {
          events.push(`stop db (${db.query('x')})`)
        },
      })
      .service('cache', {
        start: (ctx) => {
          events.push(`start cache (${ctx.services.db.query('warm')})`)
          return new Map<string, number>()
        },
      })
      .service('clock', clockLayer)
      .agent('use', { value: Schema.String }, async (s, ctx) => {
        events.push('agent started')
        for await (const v of s) {
          ctx.services.cache.set(v, (ctx.services.cache.get(v) ?? 0) + 1)
          events.push(`${ctx.services.db.query(v)} ${ctx.services.clock.tick()}`)
        }
        events.push('agent ended')
      })
      .timer('t', { every: '1s' }, (ctx) => void events.push(`timer ${ctx.services.cache.size}`))
    const t = await app.test({ startTime: T0, logLevel: 'silent' })
    expect(events.slice(0, 3)).toEqual(['start db', 'start cache (rows of warm)', 'start clock'])
    await t.agents.use.send('a')
    await t.idle()
    await t.advance('1s')
    expect(events, JSON.stringify(events)).toContain('rows of a tock')
    expect(events).toContain('timer 1')
    await t.stop()
    const end = events.slice(events.indexOf('agent ended'))
    expect(end).toEqual(['agent ended', 'stop clock', 'stop db (rows of x)'])
  })

  it('a start that fails half way stops the services already started, and says which failed', async () => {
    const events: string[] = []
    const app = createApp({ id: 'svc-fail' })
      .service('a', { start: () => void events.push('start a'), stop: () => void events.push('stop a') })
      .service('b', {
        start: () => {
          throw new Error('no connection')
        },
        stop: () => void events.push('stop b'),
      })
      .service('c', { start: () => void events.push('start c') })
    await expect(app.test({ logLevel: 'silent' })).rejects.toThrow(
      "service 'b' failed to start: no connection",
    )
    expect(events).toEqual(['start a', 'stop a'])
  })

  it('bad service definitions are clear errors', () => {
    const app = createApp({ id: 'svc-bad' })
    expect(() => app.service('x', {} as never)).toThrow(/service 'x': expected \{ start/)
    expect(() => app.service('x', { start: () => 1 }).service('x' as never, { start: () => 2 })).toThrow(
      "service 'x' is declared twice",
    )
  })
})

describe('tasks and hooks', () => {
  it('ready, then tasks; partitionsAssigned before any record of them; stopping, then revoked', async () => {
    const events: string[] = []
    const app = createApp({ id: 'hooks' })
      .topic('in', { value: Schema.String, partitions: 2 })
      .service('log', { start: () => events, stop: () => void events.push('service stopped') })
      .on('partitionsAssigned', (tps, ctx) => {
        ctx.services.log.push(`assigned ${tps.map((tp) => `${tp.topic}:${tp.partition}`).join(',')}`)
      })
      .on('ready', (ctx) => void ctx.services.log.push('ready'))
      .on('stopping', () => void events.push('stopping'))
      .on('partitionsRevoked', (tps) => void events.push(`revoked ${tps.length}`))
      .on('ready', () => {
        throw new Error('a hook that throws')
      })
      .task('warm', (ctx) => void ctx.services.log.push('task warm'))
      .task('broken', { onError: (e) => void events.push(`task onError ${(e as Error).message}`) }, () => {
        throw new Error('no luck')
      })
      .agent('read', { from: 'in' }, async (s) => {
        for await (const v of s) events.push(`read ${v}`)
      })
    const t = await app.test({ logLevel: 'silent' })
    await t.topics.in.send('x', { partition: 1 })
    await t.idle()
    await t.stop()
    const assigned = events.find((e) => e.startsWith('assigned'))
    expect(assigned).toBeDefined()
    // the app's partitions, not the internal topic that elects the leader
    expect(assigned).toBe('assigned in:0,in:1')
    expect(events.indexOf(assigned!)).toBeLessThan(events.indexOf('ready'))
    expect(events.slice(events.indexOf('ready'))).toEqual([
      'ready',
      'task warm',
      'task onError no luck',
      'read x',
      'stopping',
      'revoked 2',
      'service stopped',
    ])
  })

  it('a revoke hook that hangs does not wedge the rebalance: the next owner gets the partitions after its deadline', async () => {
    const revoked: { at: number; tps: string }[] = []
    const assigned: { at: number; tps: string }[] = []
    const fmt = (tps: readonly { topic: string; partition: number }[]) =>
      tps
        .filter((tp) => tp.topic === 'in')
        .map((tp) => tp.partition)
        .sort()
        .join(',')
    const def = createApp({ id: 'stuck-hook' })
      .topic('in', { partitions: 4 })
      .on('partitionsAssigned', (tps) => void assigned.push({ at: Date.now(), tps: fmt(tps) }))
      .on(
        'partitionsRevoked',
        (tps) => {
          revoked.push({ at: Date.now(), tps: fmt(tps) })
          return new Promise(() => {}) // never settles
        },
        { timeout: '300ms' },
      )
      .agent('a', { from: 'in' }, async (s) => {
        for await (const _ of s);
      }).definition
    const broker = new MemoryBroker()
    track(await startMemoryRuntime(def, { broker, closeBroker: false }))
    expect(assigned.map((a) => a.tps)).toEqual(['0,1,2,3'])
    track(await startMemoryRuntime(def, { broker, closeBroker: false }))
    const state = () => JSON.stringify({ assigned, revoked })
    await until(`the partitions to move: ${state()}`, () => assigned.length === 2)
    // the first worker gave up half of its partitions, the second got exactly those, once the hook's deadline passed
    expect(revoked, state()).toHaveLength(1)
    expect(revoked[0]!.tps).toMatch(/^\d,\d$/)
    expect(assigned[1]!.tps).toBe(revoked[0]!.tps)
    expect(assigned[1]!.at - revoked[0]!.at).toBeGreaterThanOrEqual(290)
  })
})

describe('onError and supervisor crash', () => {
  it('onError hears of agent, timer and cron failures with the ctx and the event', async () => {
    const heard: string[] = []
    const app = createApp({ id: 'errs' })
      .service('alerts', { start: () => heard })
      .agent(
        'picky',
        {
          value: Schema.Number,
          onError: (e, ctx, event) => {
            ctx.services.alerts.push(
              `agent ${(e as Error).message} at ${event?.topic}[${event?.partition}]@${event?.offset} value ${event?.value}`,
            )
          },
        },
        async (s) => {
          for await (const n of s) if (n === 13) throw new Error('unlucky')
        },
      )
      .timer('t', { every: '1m', onError: (e) => void heard.push(`timer ${(e as Error).message}`) }, () => {
        throw new Error('tick failed')
      })
      .cron(
        'c',
        {
          schedule: '*/2 * * * *',
          onError: (e, ctx) => void ctx.services.alerts.push(`cron ${(e as Error).message}`),
        },
        () => {
          throw new Error('cron failed')
        },
      )
    const t = track(await app.test({ startTime: T0, logLevel: 'silent' }))
    const sent = await t.agents.picky.send(13)
    await t.agents.picky.send(14)
    await t.idle()
    expect(heard).toEqual([`agent unlucky at picky[${sent.partition}]@${sent.offset} value 13`])
    await t.advance('2m')
    expect(heard.slice(1).sort()).toEqual(['cron cron failed', 'timer tick failed', 'timer tick failed'])
  })

  it("supervisor 'crash' stops the worker, with the reason, after telling onError", async () => {
    const heard: string[] = []
    const app = createApp({ id: 'crashing' }).agent(
      'fragile',
      { value: Schema.Number, supervisor: 'crash', onError: (e) => void heard.push((e as Error).message) },
      async (s) => {
        for await (const n of s) if (n < 0) throw new Error(`negative ${n}`)
      },
    )
    const t = track(await app.test({ logLevel: 'silent' }))
    await t.agents.fragile.send(1)
    await t.agents.fragile.send(-1)
    await expect(t.idle()).rejects.toThrow("agent 'fragile' crashed (supervisor 'crash'): negative -1")
    expect(heard).toEqual(['negative -1'])
  })

  it('rejects a bad supervisor or onError at definition time', () => {
    const app = createApp({ id: 'bad' })
    expect(() => app.agent('a', { supervisor: 'never' as never }, async () => {})).toThrow(
      "supervisor must be 'one_for_one', 'one_for_all' or 'crash'",
    )
    expect(() => app.timer('t', { every: '1s', onError: 'x' as never }, () => {})).toThrow(
      "timer 't': onError must be a function",
    )
  })
})

describe('idle() after a crash', () => {
  it('covers the restarting agent: a message sent after the crashing one is processed when idle() returns', async () => {
    const handled: number[] = []
    let starts = 0
    const app = createApp({ id: 'idle-crash' }).agent('flaky', { value: Schema.Number }, async (s) => {
      starts++
      for await (const n of s) {
        if (n < 0) throw new Error('negative')
        handled.push(n)
      }
    })
    const t = track(await app.test({ startTime: T0, logLevel: 'silent' }))
    await t.agents.flaky.send(1)
    await t.agents.flaky.send(-1)
    await t.agents.flaky.send(2)
    await t.idle()
    expect(handled).toEqual([1, 2])
    expect(starts).toBe(2)
    expect(t.now()).toBe(T0) // the test clock did not have to move
  })
})

describe('cron time zone and leader', () => {
  it("cron jobs without a zone run in the app's timezone (default UTC)", async () => {
    const at: string[] = []
    let t!: TestWorker<Registry>
    const stamp = (name: string) => () => void at.push(`${name} ${new Date(t.now()).toISOString()}`)
    const utc = createApp({ id: 'tz' }).cron('nine', { schedule: '0 9 * * *' }, stamp('utc'))
    t = track(await utc.test({ startTime: Date.UTC(2026, 0, 1, 7, 30) }))
    await t.advance('7h')
    const ny = createApp({ id: 'tz2', timezone: 'America/New_York' })
      .cron('nine', { schedule: '0 9 * * *' }, stamp('ny'))
      .cron('paris', { schedule: '0 9 * * *', timezone: 'Europe/Paris' }, stamp('paris'))
    t = track(await ny.test({ startTime: Date.UTC(2026, 0, 1, 7, 30) }))
    await t.advance('7h')
    expect(at).toEqual([
      'utc 2026-01-01T09:00:00.000Z',
      'paris 2026-01-01T08:00:00.000Z', // 09:00 in Paris (UTC+1)
      'ny 2026-01-01T14:00:00.000Z', // 09:00 in New York (UTC-5)
    ])
    expect(() => createApp({ id: 'x', timezone: 'Mars/Olympus' })).toThrow(
      `createApp: unknown time zone "Mars/Olympus"`,
    )
  })

  it('a cron job with onLeader runs on one worker of the group', async () => {
    const runs: string[] = []
    const def = (name: string): AppDefinition =>
      createApp({ id: 'leader' })
        .topic('in', { partitions: 2 })
        .cron('everyMinute', { schedule: '* * * * *', onLeader: true }, () => void runs.push(name))
        .cron('everywhere', { schedule: '* * * * *' }, () => void runs.push(`${name} all`)).definition
    const broker = new MemoryBroker()
    const workers: WorkerRuntime[] = []
    for (const n of ['a', 'b'])
      workers.push(track(await startMemoryRuntime(def(n), { broker, closeBroker: false, testClockAt: T0 })))
    for (const w of workers) await w.testClock!.advance(60_000)
    expect(runs.filter((r) => !r.endsWith('all'))).toHaveLength(1)
    expect(runs.filter((r) => r.endsWith('all')).sort()).toEqual(['a all', 'b all'])
  })
})

describe('ctx.signal', () => {
  it('aborts when the worker stops: a handler waiting on it ends, nobody is told, its record is not acknowledged', async () => {
    let reason: unknown
    let inside = false
    let second = false
    const seen: string[] = []
    const heard: unknown[] = []
    let timerSignal: AbortSignal | undefined
    const def = createApp({ id: 'signal' })
      .timer('t', { every: '1s' }, (ctx) => {
        timerSignal = ctx.signal
      })
      .agent('wait', { value: Schema.String, onError: (e) => void heard.push(e) }, async (s, ctx) => {
        for await (const v of s) {
          seen.push(v)
          if (second) continue
          inside = true
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
          reason = ctx.signal.reason
          throw ctx.signal.reason
        }
      }).definition
    const broker = new MemoryBroker()
    const first = track(await startMemoryRuntime(def, { broker, closeBroker: false, testClockAt: T0 }))
    await first.testClock!.advance(1000)
    expect(timerSignal?.aborted).toBe(false)
    await first.agentHandles.wait!.send('x')
    await until('the handler to hold the record', () => inside)
    await first.stop()
    expect(timerSignal?.aborted).toBe(true)
    expect(String(reason)).toMatch(/the worker is stopping/)
    expect(heard).toEqual([])
    // the next worker of the group gets the record again: it was not acknowledged
    second = true
    track(await startMemoryRuntime(def, { broker, closeBroker: false }))
    await until(`the record to come again: ${JSON.stringify(seen)}`, () => seen.length === 2)
    expect(seen).toEqual(['x', 'x'])
  })

  it('a handler that ignores its signal holds a stop no longer than the stop timeout (15 s)', {
    timeout: 60_000,
  }, async () => {
    let inside = false
    const def = createApp({ id: 'stuck' }).agent('stuck', { value: Schema.String }, async (s) => {
      for await (const _ of s) {
        inside = true
        await new Promise(() => {}) // never settles, never looks at ctx.signal
      }
    }).definition
    const lines: string[] = []
    const rt = track(
      await launch(def, {
        config: resolveConfig(def.config, {
          broker: 'memory://',
          store: 'memory://',
          web: { enabled: false },
        }),
        log: makeLogger({ level: 'warn', write: (l) => lines.push(l) }),
        layer: portsLayer({ broker: new MemoryBroker(), store: new MemoryStore(), closeBroker: true }),
      }),
    )
    await rt.agentHandles.stuck!.send('x')
    await until('the handler to hold the record', () => inside)
    await rt.stop() // resolves: the stuck fiber is interrupted after the timeout
    expect(lines.join('\n')).toMatch(/agents did not finish within 15000ms; interrupting them/)
  })

  it("aborts a handler's signal when the partition of its record is revoked", async () => {
    let aborted: string | undefined
    let inside = false
    const def = createApp({ id: 'revoke-signal' })
      .topic('in', { value: Schema.String, partitions: 2 })
      .agent('wait', { from: 'in' }, async (s, ctx) => {
        for await (const _ of s) {
          inside = true
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
          aborted = String(ctx.signal.reason)
        }
      }).definition
    const broker = new MemoryBroker()
    const a = track(await startMemoryRuntime(def, { broker, closeBroker: false }))
    // partition 1 moves to the second worker when it joins
    await a.topicHandles.in!.send('x', { partition: 1 })
    await until('the handler to hold the record', () => inside)
    track(await startMemoryRuntime(def, { broker, closeBroker: false }))
    await until('the signal to abort', () => aborted !== undefined)
    expect(aborted).toMatch(/partition in\[1\] was revoked/)
  })
})
