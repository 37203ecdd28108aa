import { describe, expect, it } from 'vitest'
import { createApp, Schema, tumbling } from '../index.ts'

const noop = async () => {}

describe('the builder', () => {
  it('is immutable: every method returns a new app and leaves the receiver unchanged', () => {
    const a = createApp({ id: 'shop' })
    const b = a.topic('orders')
    const c = a.topic('orders', { partitions: 2 })
    expect(Object.keys(a.definition.topics)).toEqual([])
    expect(b.definition.topics.orders?.partitions).toBeUndefined()
    expect(c.definition.topics.orders?.partitions).toBe(2)
    expect(Object.isFrozen(b.definition)).toBe(true)
    expect(Object.isFrozen(b.definition.topics)).toBe(true)
    expect(Object.isFrozen(b)).toBe(true)
  })

  it('rejects invalid app ids naming them', () => {
    expect(() => createApp({ id: 'my app' })).toThrow(/app id "my app" is invalid/)
    expect(() => createApp({ id: '' })).toThrow(/app id "" is invalid/)
    expect(() => createApp({ id: 'a/b' })).toThrow(/a\/b/)
    expect(() => createApp({} as { id: string })).toThrow(/app id/)
  })

  it('rejects duplicate names naming them', () => {
    const app = createApp({ id: 'x' }).topic('t').table('tb').agent('ag', { from: 't' }, noop)
    // @ts-expect-error duplicate topic name is a compile error too
    expect(() => app.topic('t')).toThrow(/topic 't' is declared twice/)
    // @ts-expect-error duplicate table
    expect(() => app.table('tb')).toThrow(/table 'tb' is declared twice/)
    // @ts-expect-error duplicate agent
    expect(() => app.agent('ag', { from: 't' }, noop)).toThrow(/agent 'ag' is declared twice/)
    // @ts-expect-error duplicate timer
    expect(() => app.timer('tick', { every: '1s' }, noop).timer('tick', { every: '1s' }, noop)).toThrow(
      /timer 'tick' is declared twice/,
    )
    const daily = app.cron('daily', { schedule: '0 0 * * *' }, noop)
    // @ts-expect-error duplicate cron job
    expect(() => daily.cron('daily', { schedule: '0 1 * * *' }, noop)).toThrow(
      /cron job 'daily' is declared twice/,
    )
    const cmd = app.command('hi', {}, noop)
    // @ts-expect-error duplicate command
    expect(() => cmd.command('hi', {}, noop)).toThrow(/command 'hi' is declared twice/)
    const routed = app.route('GET', '/x', (c) => c.text('x'))
    // @ts-expect-error duplicate route (same method and path, in either case)
    expect(() => routed.route('get', '/x', (c) => c.text('y'))).toThrow(/route GET \/x is declared twice/)
    // another method on the same path is another route
    expect(routed.route('POST', '/x', (c) => c.text('y')).definition.routes).toHaveLength(2)
    // an agent without `from` owns a topic of its name
    expect(() => app.agent('t', {}, noop)).toThrow(/topic 't' is declared twice/)
  })

  it('rejects undeclared topics in from and sink for untyped callers, naming them', () => {
    const app = createApp({ id: 'x' }).topic('orders')
    const untyped = app as unknown as { agent: (...args: unknown[]) => unknown }
    expect(() => untyped.agent('a', { from: 'orderz' }, noop)).toThrow(
      /agent 'a': from names an undeclared topic "orderz"/,
    )
    expect(() => untyped.agent('a', { from: ['orders', 'nope'] }, noop)).toThrow(/"nope"/)
    expect(() => untyped.agent('a', { from: 'orders', sink: ['gone'] }, noop)).toThrow(
      /agent 'a': sink names an undeclared topic "gone"/,
    )
  })

  it('rejects malformed durations, cron schedules, codecs and options at definition time', () => {
    const app = createApp({ id: 'x' })
    // @ts-expect-error not a duration
    expect(() => app.timer('t', { every: 'often' }, noop)).toThrow(
      /timer 't' every: invalid duration "often"/,
    )
    expect(() => app.timer('t', { every: 0 }, noop)).toThrow(/timer 't' every: must be greater than 0/)
    expect(() => app.cron('c', { schedule: 'not a cron' }, noop)).toThrow(/cron job 'c': invalid schedule/)
    expect(() => app.cron('c', { schedule: '0 0 * * *', timezone: 'Mars/Olympus' }, noop)).toThrow(
      /cron job 'c'/,
    )
    // @ts-expect-error unknown codec
    expect(() => app.topic('t', { codec: 'pickle' })).toThrow(/topic 't': unknown codec "pickle"/)
    expect(() => app.topic('t', { partitions: 0 })).toThrow(/topic 't' partitions must be a positive integer/)
    expect(() => app.topic('bad name')).toThrow(/topic name "bad name" is invalid/)
    expect(() => createApp({ id: 'x', commitInterval: 'soon' as '1s' })).toThrow(
      /commitInterval: invalid duration/,
    )
    // @ts-expect-error telemetry is { enabled?: boolean }
    expect(() => createApp({ id: 'x', telemetry: true })).toThrow(
      /telemetry must be \{ enabled\?: boolean \}/,
    )
    expect(() => createApp({ id: 'x', telemetry: { enabled: 'yes' as unknown as boolean } })).toThrow(
      /telemetry must be/,
    )
    expect(() => app.table('w', { window: tumbling('-1m' as '1m') })).toThrow(/tumbling window size/)
    expect(() => app.route('GET', 'no-slash', () => new Response())).toThrow(/path must start with '\/'/)
    expect(() => app.command('run', {}, noop)).toThrow(/clashes with a built-in command/)
    const t = app.topic('t')
    expect(() => t.agent('a', { from: 't', concurrency: 0 }, noop)).toThrow(
      /agent 'a' concurrency must be a positive integer/,
    )
    expect(() => t.topic('u', { onInvalid: 'explode' as 'skip' })).toThrow(/onInvalid must be/)
  })

  it('records agents with their topics, sinks and own topic', () => {
    const app = createApp({ id: 'x' })
      .topic('in', { value: Schema.Number })
      .topic('out')
      .agent('a', { from: 'in', sink: ['out'], concurrency: 3, supervisor: 'one_for_all' }, noop)
      .agent('own', { value: Schema.String, partitions: 2 }, noop)
    expect(app.definition.agents.a).toMatchObject({
      from: ['in'],
      sink: ['out'],
      concurrency: 3,
      supervisor: 'one_for_all',
    })
    expect(app.definition.agents.own?.from).toEqual(['own'])
    expect(app.definition.topics.own).toMatchObject({ ownedBy: 'own', partitions: 2 })
  })

  it('composes modules with use()', () => {
    const withOrders = <A extends ReturnType<typeof createApp>>(app: A) => app.topic('orders')
    const app = createApp({ id: 'x' }).use(withOrders).table('t')
    expect(Object.keys(app.definition.topics)).toEqual(['orders'])
    expect(Object.keys(app.definition.tables)).toEqual(['t'])
    expect(() => createApp({ id: 'x' }).use((() => 42) as never)).toThrow(
      /use: the module must return an App/,
    )
  })

  it('checks command arguments: types, no clash with an option, no required one after an optional one', () => {
    const app = createApp({ id: 'x' })
    const fn = async () => {}
    expect(() => app.command('c', { args: { a: { type: 'array' as 'string' } } }, fn)).toThrow(
      /command 'c' argument 'a': type must be 'string', 'number' or 'boolean'/,
    )
    expect(() =>
      app.command('c', { args: { a: { type: 'string' } }, options: { a: { type: 'string' } } }, fn),
    ).toThrow(/'a' is both an option and an argument/)
    expect(() =>
      app.command('c', { args: { a: { type: 'string', optional: true }, b: { type: 'string' } } }, fn),
    ).toThrow(/argument 'b': a required argument cannot follow the optional 'a'/)
    const ok = app.command('c', { args: { a: { type: 'string' }, b: { type: 'number', default: 1 } } }, fn)
    expect(Object.keys(ok.definition.commands.c!.args)).toEqual(['a', 'b'])
  })
})
