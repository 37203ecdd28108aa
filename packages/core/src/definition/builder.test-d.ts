/**
 * Type-level behaviour of the builder: types accumulate, handlers are typed
 * from declarations, misuse is a compile error. Checked by tsc in the test command.
 */
import { describe, expectTypeOf, it } from 'vitest'
import type { Event, Stream, Table, WindowedTable, WindowValue } from '../index.ts'
import { createApp, Schema, tumbling } from '../index.ts'

const Order = Schema.Struct({ id: Schema.String, customer: Schema.String, amount: Schema.Number })
type Order = typeof Order.Type

const base = createApp({ id: 'shop' })
  .topic('orders', { key: Schema.String, value: Order, partitions: 4 })
  .topic('big-orders', { value: Order })
  .topic('raw', { codec: 'raw' })
  .topic('lines', { codec: 'string' })
  .topic('anything')
  .table('revenue', { default: () => 0 })
  .table('per-minute', { default: () => 0, window: tumbling('1m', { expires: '1h' }) })
  .table('names', { key: Schema.Number, default: () => [] as string[] })

describe('builder types', () => {
  it('types the stream from the topic schema and ctx.tables from defaults', () => {
    base.agent('track', { from: 'orders', sink: ['big-orders'] }, async function* (orders, ctx) {
      expectTypeOf(orders).toEqualTypeOf<Stream<Order, string>>()
      expectTypeOf(ctx.tables.revenue).toEqualTypeOf<Table<string, number>>()
      expectTypeOf(ctx.tables['per-minute']).toEqualTypeOf<WindowedTable<string, number>>()
      expectTypeOf(ctx.tables.names).toEqualTypeOf<Table<number, string[]>>()
      expectTypeOf(ctx.tables['per-minute'].windows('k')).toEqualTypeOf<WindowValue<number>[]>()
      for await (const order of orders) {
        expectTypeOf(order).toEqualTypeOf<Order>()
        yield order
      }
    })
  })

  it('types values by codec when there is no schema', () => {
    base.agent('r', { from: 'raw' }, async (s) => {
      expectTypeOf(s).toEqualTypeOf<Stream<Uint8Array, string>>()
    })
    base.agent('l', { from: 'lines' }, async (s) => {
      expectTypeOf(s).toEqualTypeOf<Stream<string, string>>()
    })
    base.agent('u', { from: 'anything' }, async (s) => {
      expectTypeOf(s).toEqualTypeOf<Stream<unknown, string>>()
    })
    base.agent('multi', { from: ['orders', 'lines'] }, async (s) => {
      expectTypeOf(s).toEqualTypeOf<Stream<Order | string, string>>()
    })
  })

  it('types operators', () => {
    base.agent('ops', { from: 'orders' }, async (orders) => {
      expectTypeOf(orders.map((o) => o.amount)).toEqualTypeOf<Stream<number, string>>()
      expectTypeOf(orders.map(async (o) => o.id)).toEqualTypeOf<Stream<string, string>>()
      expectTypeOf(orders.take(10, '1s')).toEqualTypeOf<Stream<Order[], string>>()
      expectTypeOf(orders.events()).toEqualTypeOf<Stream<Event<string, Order>, string>>()
      expectTypeOf(orders.items()).toEqualTypeOf<Stream<[string, Order], string>>()
      expectTypeOf(orders.enumerate()).toEqualTypeOf<Stream<[number, Order], string>>()
      expectTypeOf(orders.groupBy((o) => o.customer, { name: 'by-customer' })).toEqualTypeOf<
        Stream<Order, string>
      >()
      expectTypeOf(
        orders
          .filter((o) => o.amount > 1)
          .map((o) => o.id)
          .take(5, '1s'),
      ).toEqualTypeOf<Stream<string[], string>>()
      const big = orders.filter((o): o is Order & { amount: 1000 } => o.amount === 1000)
      expectTypeOf(big).toEqualTypeOf<Stream<Order & { amount: 1000 }, string>>()
    })
  })

  it('types an agent own topic, send and ask from what it yields', () => {
    const app = base
      .agent('double', { value: Schema.Number }, async function* (numbers) {
        expectTypeOf(numbers).toEqualTypeOf<Stream<number, string>>()
        for await (const n of numbers) yield n * 2
      })
      .timer('t', { every: '1s' }, async (ctx) => {
        expectTypeOf(ctx.agents.double.ask(2)).toEqualTypeOf<Promise<number>>()
        await ctx.agents.double.send(3, { key: 'k' })
        await ctx.topics.double.send(4)
        await ctx.topics.orders.send({ id: '1', customer: 'c', amount: 1 }, { key: 'c' })
        // @ts-expect-error wrong value type for the topic
        await ctx.topics.orders.send({ id: 1 })
        // @ts-expect-error wrong value type for the agent
        await ctx.agents.double.send('three')
        // @ts-expect-error undeclared table
        ctx.tables.nope
        // @ts-expect-error value type is number
        ctx.tables.revenue.set('x', 'y')
      })
    expectTypeOf(app.definition.config.id).toEqualTypeOf<string>()
  })

  it('makes undeclared names compile errors', () => {
    // @ts-expect-error undeclared topic in from
    base.agent('a', { from: 'orderz' }, async () => {})
    // @ts-expect-error undeclared topic in sink
    base.agent('b', { from: 'orders', sink: ['nowhere'] }, async () => {})
    // @ts-expect-error topic declared twice
    base.topic('orders')
    // @ts-expect-error table declared twice
    base.table('revenue')
  })

  it('types routes and command options', () => {
    base
      .route('GET', '/revenue/:customer', (c, ctx) => {
        expectTypeOf(c.req.param('customer')).toEqualTypeOf<string>()
        return c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')) })
      })
      .command(
        'top',
        {
          describe: 'Print top customers',
          options: { n: { type: 'number', default: 3 }, name: { type: 'string' } },
        },
        async (args) => {
          expectTypeOf(args.n).toEqualTypeOf<number>()
          expectTypeOf(args.name).toEqualTypeOf<string | undefined>()
        },
      )
  })

  it('types routes declared for a table key: the table must exist and the key be of its key type', () => {
    base.route('GET', '/r/:customer', { table: 'revenue', key: (c) => c.req.param('customer') }, (c, ctx) =>
      c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')) }),
    )
    base.route('GET', '/n/:id', { table: 'names', key: (c) => Number(c.req.param('id')) }, (c, ctx) =>
      c.json(ctx.tables.names.get(1)),
    )
    // @ts-expect-error undeclared table
    base.route('GET', '/x/:k', { table: 'nope', key: (c) => c.req.param('k') }, (c) => c.text('x'))
    // @ts-expect-error the names table has number keys
    base.route('GET', '/y/:k', { table: 'names', key: (c) => c.req.param('k') }, (c) => c.text('y'))
    // @ts-expect-error no such path parameter
    base.route('GET', '/z/:k', { table: 'revenue', key: (c) => c.req.param('other') }, (c) => c.text('z'))
  })

  it('types command positional arguments: required, optional, with a default', () => {
    base.command(
      'greet',
      {
        args: {
          name: { type: 'string' },
          times: { type: 'number', optional: true },
          loud: { type: 'boolean', optional: true, default: false },
        },
        options: { lang: { type: 'string', default: 'en' } },
      },
      async (args) => {
        expectTypeOf(args.name).toEqualTypeOf<string>()
        expectTypeOf(args.times).toEqualTypeOf<number | undefined>()
        expectTypeOf(args.loud).toEqualTypeOf<boolean>()
        expectTypeOf(args.lang).toEqualTypeOf<string>()
        expectTypeOf(args._).toEqualTypeOf<readonly (string | number)[]>()
        // @ts-expect-error no such argument
        args.nope
      },
    )
  })

  it('keeps the receiver unchanged at the type level too', () => {
    const a = createApp({ id: 'x' })
    const b = a.topic('t', { value: Schema.Number })
    b.agent('ok', { from: 't' }, async () => {})
    // @ts-expect-error `a` has no topic 't'
    a.agent('no', { from: 't' }, async () => {})
  })

  it("checks what an agent yields against its sink topics' value types", () => {
    // Orders into an Order topic: fine.
    base.agent('fwd', { from: 'orders', sink: ['big-orders'] }, async function* (orders) {
      for await (const o of orders) yield o
    })
    // Anything into an untyped topic: fine.
    base.agent('any', { from: 'orders', sink: ['anything'] }, async function* (orders) {
      for await (const o of orders) yield o.amount
    })
    // A number into an Order topic: a compile error on the options, naming the topic.
    base.agent(
      'wrong',
      // @ts-expect-error error: the agent yields values sink topic 'big-orders' does not accept
      { from: 'orders', sink: ['big-orders'] },
      async function* (orders) {
        for await (const o of orders) yield o.amount
      },
    )
    // Every sink must accept it: a string topic takes no Order.
    base.agent(
      'half',
      // @ts-expect-error error: the agent yields values sink topic 'lines' does not accept
      { from: 'orders', sink: ['anything', 'lines'] },
      async function* (orders) {
        for await (const o of orders) yield o
      },
    )
    // The reply type still comes from what the handler yields.
    const app = base.agent('amounts', { from: 'orders', sink: ['anything'] }, async function* (orders) {
      for await (const o of orders) yield o.amount
    })
    app.timer('t', { every: '1s' }, async (ctx) => {
      expectTypeOf(
        await ctx.agents.amounts.ask({ id: '1', customer: 'c', amount: 1 }),
      ).toEqualTypeOf<number>()
    })
  })

  it('accumulates timers, cron jobs, routes and commands: declaring one twice does not compile', () => {
    const app = base
      .timer('tick', { every: '1s' }, () => {})
      .cron('nightly', { schedule: '0 0 * * *' }, () => {})
      .route('GET', '/orders/:id', (c) => c.json({ id: c.req.param('id') }))
      .command('hello', {}, () => {})
    expectTypeOf(app.definition.timers).toBeObject()
    // @ts-expect-error timer 'tick' is already declared
    app.timer('tick', { every: '2s' }, () => {})
    // @ts-expect-error cron job 'nightly' is already declared
    app.cron('nightly', { schedule: '0 1 * * *' }, () => {})
    // @ts-expect-error route 'GET /orders/:id' is already declared
    app.route('get', '/orders/:id', (c) => c.text('again'))
    // @ts-expect-error command 'hello' is already declared
    app.command('hello', {}, () => {})
    app.route('DELETE', '/orders/:id', (c) => c.body(null, 204))
  })

  it('types joins from both schemas', () => {
    base
      .table('totals', { default: () => 0 })
      .table('orders-by-id', { value: Order, default: () => ({ id: '', customer: '', amount: 0 }) })
      .agent('join', { from: 'orders' }, async (orders, ctx) => {
        expectTypeOf(orders.join(ctx.tables.totals)).toEqualTypeOf<Stream<[Order, number], string>>()
        expectTypeOf(orders.leftJoin(ctx.tables.totals)).toEqualTypeOf<
          Stream<[Order, number | undefined], string>
        >()
        expectTypeOf(orders.join(ctx.tables.names, (o) => o.amount)).toEqualTypeOf<
          Stream<[Order, string[]], string>
        >()
        // @ts-expect-error names is keyed by numbers, the stream by strings: a key function is needed
        orders.join(ctx.tables.names)
        // @ts-expect-error the key function must return the table's key type
        orders.join(ctx.tables.names, (o) => o.customer)
      })
  })

  it('types set tables', () => {
    base
      .setTable('tags', { member: Schema.String })
      .setTable('ids', { key: Schema.Number, member: Schema.Number })
      .agent('tagger', { from: 'orders' }, async (orders, ctx) => {
        expectTypeOf(ctx.tables.tags.get('x')).toEqualTypeOf<ReadonlySet<string>>()
        expectTypeOf(ctx.tables.ids.has(1, 2)).toEqualTypeOf<boolean>()
        for await (const o of orders) ctx.tables.tags.add(o.customer, o.id)
        // @ts-expect-error members of 'tags' are strings
        ctx.tables.tags.add('x', 1)
        // @ts-expect-error 'ids' is keyed by numbers
        ctx.tables.ids.discard('x', 1)
      })
  })
})
