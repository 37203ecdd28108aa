/**
 * Type-level behaviour of channels: `from` names a channel like a topic, the
 * stream is typed by the channel's schemas, `ctx.channels.<name>.send` takes
 * its value type, and an undeclared or misused name is a compile error.
 */
import { describe, expectTypeOf, it } from 'vitest'
import type { ChannelHandle, Stream } from '../index.ts'
import { createApp, Schema } from '../index.ts'

const Audit = Schema.Struct({ user: Schema.String, action: Schema.String })
type Audit = typeof Audit.Type

const base = createApp({ id: 'ch' })
  .topic('orders', { value: Schema.Number })
  .channel('audit', { value: Audit })
  .channel('ids', { key: Schema.Number, value: Schema.Number })

describe('channel types', () => {
  it('types the stream of an agent reading a channel', () => {
    base.agent('log', { from: 'audit' }, async (audits) => {
      expectTypeOf(audits).toEqualTypeOf<Stream<Audit, string>>()
    })
    base.agent('sum', { from: 'ids' }, async (ids) => {
      expectTypeOf(ids).toEqualTypeOf<Stream<number, number>>()
    })
  })

  it('types ctx.channels', () => {
    base.agent('track', { from: 'orders' }, async (orders, ctx) => {
      expectTypeOf(ctx.channels.audit).toEqualTypeOf<ChannelHandle<string, Audit>>()
      for await (const n of orders) {
        await ctx.channels.audit.send({ user: 'ann', action: String(n) })
        await ctx.channels.ids.send(n, { key: 1 })
        // @ts-expect-error a channel takes its own value type
        await ctx.channels.audit.send({ user: 'ann' })
        // @ts-expect-error and its own key type
        await ctx.channels.ids.send(n, { key: 'one' })
      }
    })
    base.timer('t', { every: '1s' }, async (ctx) => {
      expectTypeOf(ctx.channels.ids.send).parameter(0).toEqualTypeOf<number>()
    })
  })

  it('rejects undeclared channels and reused names', () => {
    // @ts-expect-error 'nope' is neither a topic nor a channel
    base.agent('x', { from: 'nope' }, async () => {})
    // @ts-expect-error a channel cannot take a topic's name
    base.channel('orders')
    // @ts-expect-error nor another channel's
    base.channel('audit')
    // @ts-expect-error channels are not topics: no ctx.topics handle
    base.agent('y', { from: 'orders' }, async (_s, ctx) => ctx.topics.audit)
  })
})
