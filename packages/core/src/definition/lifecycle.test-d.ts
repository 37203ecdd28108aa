/**
 * Type-level behaviour of services, tasks, hooks and onError: ctx.services is
 * typed from the services declared before, in every kind of handler; hooks get
 * the arguments of their event; misuse is a compile error. Checked by tsc.
 */
import * as Context from 'effect/Context'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import { describe, expectTypeOf, it } from 'vitest'
import type { Event, PartitionRef } from '../index.ts'
import { createApp, Schema } from '../index.ts'

interface Pool {
  query(sql: string): Promise<number[]>
  end(): Promise<void>
}
declare const openPool: () => Promise<Pool>

class Mailer extends Context.Service<Mailer, { readonly send: (to: string) => Effect.Effect<void> }>()(
  'test/Mailer',
) {}
const mailerLayer = Layer.succeed(Mailer, { send: () => Effect.void })

const app = createApp({ id: 'shop', timezone: 'Europe/Paris' })
  .topic('orders', { key: Schema.String, value: Schema.Number })
  .service('db', {
    start: async () => openPool(),
    stop: async (pool) => {
      expectTypeOf(pool).toEqualTypeOf<Pool>()
      await pool.end()
    },
  })
  .service('cache', {
    start: (ctx) => {
      expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
      return new Map<string, number>()
    },
  })
  .service('mailer', mailerLayer)

describe('lifecycle types', () => {
  it('types ctx.services in agents, timers, cron jobs, routes, commands, tasks and hooks', () => {
    app
      .agent('a', { from: 'orders' }, async (s, ctx) => {
        expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
        expectTypeOf(ctx.services.cache).toEqualTypeOf<Map<string, number>>()
        expectTypeOf(ctx.services.mailer.send).toEqualTypeOf<(to: string) => Effect.Effect<void>>()
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>()
        for await (const _ of s);
      })
      .timer('t', { every: '1s' }, (ctx) => expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>())
      .cron('c', { schedule: '0 0 * * *', onLeader: true }, (ctx) =>
        expectTypeOf(ctx.services.cache).toEqualTypeOf<Map<string, number>>(),
      )
      .route('GET', '/x', (c, ctx) => {
        expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>()
        return c.json({})
      })
      .command('cmd', {}, (_args, ctx) => expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>())
      .task('warm', async (ctx) => expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>())
      .on('ready', (ctx) => expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>())
      .on('stopping', async (ctx) => expectTypeOf(ctx.services.cache).toEqualTypeOf<Map<string, number>>())
      .on('partitionsAssigned', (partitions, ctx) => {
        expectTypeOf(partitions).toEqualTypeOf<readonly PartitionRef[]>()
        expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
      })
      .on('partitionsRevoked', async (partitions) => {
        expectTypeOf(partitions[0]!.topic).toEqualTypeOf<string>()
        expectTypeOf(partitions[0]!.partition).toEqualTypeOf<number>()
      })
  })

  it('types onError: the error, the ctx and, for agents, the event', () => {
    app
      .agent(
        'typed',
        {
          from: 'orders',
          supervisor: 'crash',
          onError: (error, ctx, event) => {
            expectTypeOf(error).toEqualTypeOf<unknown>()
            expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
            expectTypeOf(event).toEqualTypeOf<Event<string, number> | undefined>()
          },
        },
        async () => {},
      )
      .timer(
        't',
        { every: '1s', onError: async (_e, ctx) => void (await ctx.services.db.query('x')) },
        () => {},
      )
      .cron('c', { schedule: '* * * * *', timezone: 'UTC', onError: () => {} }, () => {})
      .task(
        't',
        {
          onError: (_e, ctx) => {
            expectTypeOf(ctx.services.db).toEqualTypeOf<Pool>()
          },
        },
        () => {},
      )
  })

  it('rejects what is not declared or does not fit', () => {
    app.timer('t', { every: '1s' }, (ctx) => {
      // @ts-expect-error: no such service
      void ctx.services.nope
    })
    // @ts-expect-error: a service name is declared once
    app.service('db', { start: () => 1 })
    // @ts-expect-error: no such event
    app.on('started', () => {})
    // @ts-expect-error: 'ready' hooks get only the ctx
    app.on('ready', (partitions: readonly PartitionRef[], _ctx: unknown) => partitions)
    // @ts-expect-error: stop gets the resource start gave
    app.service('n', { start: () => 1, stop: (r: string) => void r })
    // @ts-expect-error: not a supervisor strategy
    app.agent('x', { from: 'orders', supervisor: 'restart' }, async () => {})
    // @ts-expect-error: onLeader is a boolean
    app.cron('x', { schedule: '* * * * *', onLeader: 'yes' }, () => {})
    // @ts-expect-error: the services of a later declaration are not known yet
    app.timer('early', { every: '1s' }, (ctx) => ctx.services.late).service('late', { start: () => 1 })
  })
})
