/**
 * The immutable, typed builder. An App is a typed facade over a frozen
 * AppDefinition: every method validates its input, returns a fresh App, and
 * leaves the receiver untouched. The registry type parameter accumulates the
 * declared topics, tables and agents so handlers are typed end to end.
 */
import { Cron } from 'croner'
import * as Schema from 'effect/Schema'
import type { App } from './app.ts'
import {
  asArray,
  checkBoolean,
  checkName,
  checkPositiveInt,
  checkSchema,
  type Def,
  fail,
  freeze,
  makeDefinition,
  makeTopicDef,
} from './builder-checks.ts'
import { agentSource, describeOf, makeChannelDef, partitioningOf } from './channel.ts'
import type { AnySchema } from './codec.ts'
import type {
  AgentDef,
  AppConfig,
  AppDefinition,
  CommandArgDef,
  CommandDef,
  CommandOptionDef,
  HttpMethod,
  RouteDef,
  SupervisorStrategy,
  TableDef,
  TopicDef,
} from './definition.ts'
import { type Duration, toMillis } from './duration.ts'
import { checkOnError, checkTimezone, lifecycleMethods } from './lifecycle.ts'
import type { Platform, TestOptions } from './platform.ts'
import { addStreamJoin, type StreamJoinOptions } from './stream-join.ts'
import type { EmptyRegistry, Registry } from './types.ts'
import type { WindowSpec } from './windows.ts'

export { makeDefinition }

export const BUILTIN_COMMANDS = [
  'run',
  'send',
  'tail',
  'topics',
  'agents',
  'tables',
  'routes',
  'reset',
  'wait-ready',
  'help',
] as const
const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']

// ---------------------------------------------------------------------------
// Implementation (untyped: the facade above carries the types)

/** Creates the App facade over a definition; `platform` picks adapters when it runs. */
export function makeApp(def: AppDefinition, platform: Platform): App<Registry> {
  const next = (change: (d: Def) => void): App<Registry> => {
    const copy: Def = { ...def }
    change(copy)
    return makeApp(freeze(copy), platform)
  }
  const taken = (kind: string, bag: Readonly<Record<string, unknown>>, name: string) => {
    if (Object.hasOwn(bag, name)) fail(`${kind} '${name}' is declared twice`)
  }
  // Agents read channels and topics with one `from`: a name means one of them.
  const clash = (name: string, kind: string, bag: Readonly<Record<string, unknown>> | undefined) => {
    if (bag && Object.hasOwn(bag, name))
      fail(`'${name}' is already declared as a ${kind} (channels share names with topics and agents)`)
  }
  const app = {
    id: def.config.id,
    definition: def,

    topic(name: unknown, options: Record<string, unknown> = {}) {
      const n = checkName('topic', name)
      taken('topic', def.topics, n)
      clash(n, 'channel', def.channels)
      const t = makeTopicDef(n, options)
      return next((d) => {
        d.topics = { ...d.topics, [n]: t }
      })
    },

    agent(name: unknown, options: Record<string, unknown>, handler: unknown) {
      const n = checkName('agent', name)
      taken('agent', def.agents, n)
      clash(n, 'channel', def.channels)
      if (options === null || typeof options !== 'object') fail(`agent '${n}': options must be an object`)
      if (typeof handler !== 'function') fail(`agent '${n}': handler must be a function`)
      const from = asArray(options.from)
      let ownTopic: TopicDef | undefined
      const { channel } = agentSource(n, from, def.topics, def.channels ?? {})
      if (from.length === 0) {
        taken('topic', def.topics, n)
        ownTopic = makeTopicDef(n, { ...options, from: undefined, sink: undefined, onError: undefined }, n)
      }
      const sink = asArray(options.sink)
      for (const s of sink) {
        if (typeof s !== 'string' || !Object.hasOwn(def.topics, s))
          fail(`agent '${n}': sink names an undeclared topic ${JSON.stringify(s)}`)
      }
      const supervisor = options.supervisor ?? 'one_for_one'
      if (supervisor !== 'one_for_one' && supervisor !== 'one_for_all' && supervisor !== 'crash')
        fail(
          `agent '${n}': supervisor must be 'one_for_one', 'one_for_all' or 'crash', got ${JSON.stringify(supervisor)}`,
        )
      const onError = checkOnError(`agent '${n}'`, options.onError)
      const a: AgentDef = Object.freeze({
        name: n,
        from: Object.freeze(channel !== undefined ? [] : from.length ? (from as string[]) : [n]),
        sink: Object.freeze(sink as string[]),
        concurrency: checkPositiveInt(`agent '${n}' concurrency`, options.concurrency) ?? 1,
        supervisor: supervisor as SupervisorStrategy,
        handler: handler as AgentDef['handler'],
        ...(onError ? { onError } : {}),
        ...describeOf(`agent '${n}'`, options.describe),
        ...(channel !== undefined ? { channel } : {}),
      })
      return next((d) => {
        d.agents = { ...d.agents, [n]: a }
        if (ownTopic) d.topics = { ...d.topics, [n]: ownTopic }
      })
    },

    table(name: unknown, options: Record<string, unknown> = {}) {
      const n = checkName('table', name)
      taken('table', def.tables, n)
      const where = `table '${n}'`
      if (options.default !== undefined && typeof options.default !== 'function')
        fail(`${where}: default must be a function returning the default value`)
      const w = options.window as WindowSpec | undefined
      if (w !== undefined && (typeof w !== 'object' || typeof w.ranges !== 'function'))
        fail(`${where}: window must be tumbling(), hopping() or sliding()`)
      const onLate = options.onLate
      if (
        onLate !== undefined &&
        onLate !== 'skip' &&
        onLate !== 'dead-letter' &&
        typeof onLate !== 'function'
      )
        fail(`${where}: onLate must be 'skip', 'dead-letter' or a function`)
      const final = options.final
      if (final !== undefined && typeof final !== 'string' && typeof final !== 'function')
        fail(`${where}: final must be a topic name or a function`)
      if ((onLate !== undefined || final !== undefined) && w?.graceMs === undefined)
        fail(
          `${where}: onLate and final need a window with a grace period (e.g. tumbling('1m', { grace: '10s' }))`,
        )
      if (typeof final === 'string' && !Object.hasOwn(def.topics, final) && !Object.hasOwn(def.agents, final))
        fail(`${where}: final topic '${final}' is not declared (declare it before the table)`)
      const t = Object.freeze({
        name: n,
        ...(onLate !== undefined ? { onLate: onLate as NonNullable<TableDef['onLate']> } : {}),
        ...(final !== undefined ? { final: final as NonNullable<TableDef['final']> } : {}),
        default: options.default as (() => unknown) | undefined,
        keySchema: checkSchema(`${where} key`, options.key, Schema.String as AnySchema),
        valueSchema: checkSchema(`${where} value`, options.value, Schema.Unknown as AnySchema),
        partitions: checkPositiveInt(`${where} partitions`, options.partitions),
        window: w,
        global: checkBoolean(`${where} global`, options.global),
        ...describeOf(where, options.describe),
        ...partitioningOf(where, options.partitioning),
      })
      return next((d) => {
        d.tables = { ...d.tables, [n]: t }
      })
    },

    channel(name: unknown, options?: Record<string, unknown>) {
      const n = checkName('channel', name)
      taken('channel', def.channels ?? {}, n)
      clash(n, 'topic', def.topics)
      clash(n, 'agent', def.agents)
      const c = makeChannelDef(n, options)
      return next((d) => {
        d.channels = { ...d.channels, [n]: c }
      })
    },

    streamJoin(
      name: unknown,
      options: StreamJoinOptions<string, string, string>,
      join: (left: unknown, right: unknown, key: unknown) => unknown,
    ) {
      const n = checkName('stream join', name)
      taken('agent', def.agents, n)
      return addStreamJoin(app as never, n, options, join) as unknown as App<Registry>
    },

    tableJoin(
      name: unknown,
      options: { left?: unknown; right?: unknown; type?: unknown; value?: unknown },
      fn: unknown,
    ) {
      const n = checkName('table', name)
      taken('table', def.tables, n)
      const where = `table join '${n}'`
      if (typeof fn !== 'function') fail(`${where}: the join must be a function (left, right, key) => value`)
      const type = options?.type ?? 'inner'
      if (type !== 'inner' && type !== 'left') fail(`${where}: type must be 'inner' or 'left'`)
      const sides = [options?.left, options?.right].map((s) => {
        const t = typeof s === 'string' ? def.tables[s] : undefined
        if (!t) fail(`${where}: ${JSON.stringify(s)} is not a declared table (declare both before the join)`)
        if (t!.window || t!.set) fail(`${where}: table '${t!.name}' is windowed or a set; join plain tables`)
        return t!
      })
      const [l, r] = sides as [TableDef, TableDef]
      if (l.partitions !== undefined && r.partitions !== undefined && l.partitions !== r.partitions)
        fail(
          `${where}: table '${l.name}' has ${l.partitions} partitions and '${r.name}' ${r.partitions}: a table–table join needs them co-partitioned`,
        )
      const t = Object.freeze({
        name: n,
        join: Object.freeze({
          left: l.name,
          right: r.name,
          type: type as 'inner' | 'left',
          fn: fn as (a: unknown, b: unknown, k: unknown) => unknown,
        }),
        default: undefined,
        keySchema: l.keySchema,
        valueSchema: checkSchema(`${where} value`, options?.value, Schema.Unknown as AnySchema),
        partitions: l.partitions ?? r.partitions,
        window: undefined,
        global: l.global === true && r.global === true,
      })
      return next((d) => {
        d.tables = { ...d.tables, [n]: t }
      })
    },

    setTable(name: unknown, options: Record<string, unknown> = {}) {
      const n = checkName('table', name)
      taken('table', def.tables, n)
      const where = `set table '${n}'`
      const t = Object.freeze({
        name: n,
        set: true,
        default: undefined,
        keySchema: checkSchema(`${where} key`, options.key, Schema.String as AnySchema),
        valueSchema: checkSchema(`${where} member`, options.member, Schema.Unknown as AnySchema),
        partitions: checkPositiveInt(`${where} partitions`, options.partitions),
        window: undefined,
        global: checkBoolean(`${where} global`, options.global),
      })
      return next((d) => {
        d.tables = { ...d.tables, [n]: t }
      })
    },

    timer(name: unknown, options: { every?: unknown; onLeader?: unknown; onError?: unknown }, fn: unknown) {
      const n = checkName('timer', name)
      taken('timer', def.timers, n)
      if (typeof fn !== 'function') fail(`timer '${n}': fn must be a function`)
      const everyMs = toMillis(options?.every as Duration, `timer '${n}' every`)
      if (everyMs <= 0) fail(`timer '${n}' every: must be greater than 0`)
      const onError = checkOnError(`timer '${n}'`, options.onError)
      const t = Object.freeze({
        name: n,
        everyMs,
        onLeader: options.onLeader === true,
        fn: fn as (c: unknown) => unknown,
        ...(onError ? { onError } : {}),
      })
      return next((d) => {
        d.timers = { ...d.timers, [n]: t }
      })
    },

    cron(
      name: unknown,
      options: { schedule?: unknown; timezone?: unknown; onLeader?: unknown; onError?: unknown },
      fn: unknown,
    ) {
      const n = checkName('cron job', name)
      taken('cron job', def.crons, n)
      if (typeof fn !== 'function') fail(`cron job '${n}': fn must be a function`)
      const schedule = options?.schedule
      const timezone = checkTimezone(`cron job '${n}'`, options?.timezone)
      if (typeof schedule !== 'string') fail(`cron job '${n}': schedule must be a cron expression string`)
      const onError = checkOnError(`cron job '${n}'`, options.onError)
      try {
        const zone = timezone ?? def.config.timezone ?? 'UTC'
        const c = new Cron(schedule as string, { paused: true, timezone: zone })
        c.nextRun()
        c.stop()
      } catch (e) {
        fail(
          `cron job '${n}': invalid schedule ${JSON.stringify(schedule)} or timezone: ${(e as Error).message}`,
        )
      }
      const c = Object.freeze({
        name: n,
        schedule: schedule as string,
        timezone,
        fn: fn as (c: unknown) => unknown,
        onLeader: checkBoolean(`cron job '${n}' onLeader`, options.onLeader),
        ...(onError ? { onError } : {}),
      })
      return next((d) => {
        d.crons = { ...d.crons, [n]: c }
      })
    },

    route(method: unknown, path: unknown, optionsOrHandler: unknown, maybeHandler?: unknown) {
      const m = typeof method === 'string' ? (method.toUpperCase() as HttpMethod) : undefined
      if (m === undefined || !METHODS.includes(m))
        fail(`route: unknown HTTP method ${JSON.stringify(method)}`)
      if (typeof path !== 'string' || !path.startsWith('/'))
        fail(`route: path must start with '/', got ${JSON.stringify(path)}`)
      const withOptions = maybeHandler !== undefined
      const handler = withOptions ? maybeHandler : optionsOrHandler
      if (typeof handler !== 'function') fail(`route ${m} ${path}: handler must be a function`)
      let table: RouteDef['table']
      if (withOptions) {
        const o = optionsOrHandler as { table?: unknown; key?: unknown } | null
        if (o === null || typeof o !== 'object') fail(`route ${m} ${path}: options must be { table, key }`)
        if (typeof o!.table !== 'string' || !Object.hasOwn(def.tables, o!.table))
          fail(`route ${m} ${path}: table names an undeclared table ${JSON.stringify(o!.table)}`)
        if (typeof o!.key !== 'function')
          fail(`route ${m} ${path}: key must be a function (c) => the table key the request is for`)
        table = Object.freeze({ name: o!.table as string, key: o!.key as (c: unknown) => unknown })
      }
      if (def.routes.some((r) => r.method === m && r.path === path))
        fail(`route ${m} ${path} is declared twice`)
      const r: RouteDef = Object.freeze({
        method: m as HttpMethod,
        path: path as string,
        table,
        handler: handler as (c: unknown, x: unknown) => unknown,
      })
      return next((d) => {
        d.routes = [...d.routes, r]
      })
    },

    command(
      name: unknown,
      options: { describe?: unknown; options?: unknown; args?: unknown } = {},
      fn: unknown,
    ) {
      const n = checkName('command', name)
      taken('command', def.commands, n)
      if ((BUILTIN_COMMANDS as readonly string[]).includes(n))
        fail(`command '${n}' clashes with a built-in command`)
      if (typeof fn !== 'function') fail(`command '${n}': fn must be a function`)
      const opts = (options.options ?? {}) as Record<string, CommandOptionDef>
      for (const [k, o] of Object.entries(opts)) {
        if (!o || !['string', 'number', 'boolean', 'array'].includes(o.type))
          fail(`command '${n}' option '${k}': type must be 'string', 'number', 'boolean' or 'array'`)
      }
      const args = (options.args ?? {}) as Record<string, CommandArgDef>
      let optionalSeen: string | undefined
      for (const [k, a] of Object.entries(args)) {
        if (!a || !['string', 'number', 'boolean'].includes(a.type))
          fail(`command '${n}' argument '${k}': type must be 'string', 'number' or 'boolean'`)
        if (Object.hasOwn(opts, k)) fail(`command '${n}': '${k}' is both an option and an argument`)
        const optional = a.optional === true || a.default !== undefined
        if (optional) optionalSeen ??= k
        else if (optionalSeen !== undefined)
          fail(
            `command '${n}' argument '${k}': a required argument cannot follow the optional '${optionalSeen}'`,
          )
      }
      const c: CommandDef = Object.freeze({
        name: n,
        describe: options.describe as string | undefined,
        options: Object.freeze({ ...opts }),
        args: Object.freeze({ ...args }),
        fn: fn as (a: unknown, c: unknown) => unknown,
      })
      return next((d) => {
        d.commands = { ...d.commands, [n]: c }
      })
    },

    ...lifecycleMethods(def, next),

    use(module: unknown) {
      if (typeof module !== 'function') fail('use: expected a function (app) => app')
      const result = (module as (a: unknown) => unknown)(app)
      if (!result || typeof result !== 'object' || !('definition' in result))
        fail('use: the module must return an App')
      return result
    },

    start: (overrides?: Partial<AppConfig>) => platform.start(def, overrides),
    test: (options?: TestOptions) => platform.test(def, options),
    main: (argv?: readonly string[]) => platform.main(app, argv ?? process.argv.slice(2)),
  }
  return Object.freeze(app) as unknown as App<Registry>
}

/** createApp bound to a platform (the adapters it can run on). */
export const createAppWith =
  (platform: Platform) =>
  (config: AppConfig): App<EmptyRegistry> =>
    makeApp(makeDefinition(config), platform) as unknown as App<EmptyRegistry>
