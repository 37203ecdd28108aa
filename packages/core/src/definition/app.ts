/**
 * The builder's public face: the App interface and the options of each of
 * its methods. The registry type parameter accumulates what is declared
 * (topics, tables, agents, timers, cron jobs, routes, commands) so handlers
 * are typed end to end and a name declared twice is a compile error.
 */
import type * as Context from 'effect/Context'
import type * as Layer from 'effect/Layer'
import type * as Schema from 'effect/Schema'
import type { AnySchema, CodecName } from './codec.ts'
import type {
  AppConfig,
  AppDefinition,
  HttpMethod,
  LateEvent,
  OnInvalid,
  SupervisorStrategy,
} from './definition.ts'
import type { Duration } from './duration.ts'
import type { HookEvent } from './lifecycle.ts'
import type { TestOptions } from './platform.ts'
import type { StreamJoinOptions, StreamJoinType } from './stream-join.ts'
import type {
  Added,
  AgentAdded,
  ChannelName,
  CommandArg,
  CommandArgs,
  CommandOption,
  Ctx,
  EmptyRegistry,
  Event,
  NotDeclared,
  PartitionRef,
  Registry,
  RouteContext,
  RouteKey,
  SourceKey,
  SourceValue,
  Stream,
  TableKey,
  TableName,
  TestWorker,
  TopicKey,
  TopicName,
  TopicValue,
  WindowValue,
  Worker,
} from './types.ts'
import type { WindowSpec } from './windows.ts'

type CodecValue<C> = C extends 'raw' ? Uint8Array : C extends 'string' ? string : unknown
type SchemaType<S> = S extends { readonly Type: infer T } ? T : never
/** A declared topic's entry (an alias, so the registry holds one interned type per declaration). */
type TopicEntryOf<KS, VS, C> = {
  readonly key: SchemaType<KS>
  readonly value: VS extends AnySchema ? SchemaType<VS> : CodecValue<C>
}
type RouteFree<R extends Registry, M extends string, P extends string> =
  RouteKey<M, P> extends keyof R['routes'] ? `'${RouteKey<M, P>}' is already declared` : P
type RouteAdded<M extends string, P extends string, Res> = Added<
  'routes',
  RouteKey<M, P>,
  RouteEntryOf<Uppercase<M>, P, Res>
>
type RouteEntryOf<M, P, Res> = { readonly method: M; readonly path: P; readonly response: Res }
/** The sink topics (of S) whose value type does not accept O. */
type Rejecting<R extends Registry, S, O> = S extends string
  ? [O] extends [TopicValue<R, S>]
    ? never
    : S
  : never
/**
 * A compile error, tRPC style, when an agent yields values one of its sink
 * topics does not accept: the options lack a property whose name says so.
 */
type SinkCheck<R extends Registry, S, O> = [Rejecting<R, S, O>] extends [never]
  ? unknown
  : {
      readonly [K in Rejecting<
        R,
        S,
        O
      > as `error: the agent yields values sink topic '${K}' does not accept`]: {
        readonly yields: O
        readonly accepts: TopicValue<R, K>
      }
    }

export interface TopicOptions<KS, VS, C extends CodecName> {
  readonly key?: KS
  readonly value?: VS
  readonly codec?: C
  readonly partitions?: number
  readonly replicas?: number
  readonly retention?: Duration
  readonly compacted?: boolean
  readonly config?: Readonly<Record<string, string>>
  readonly onInvalid?: OnInvalid
  /** What the topic is for (shown by `stream-app topics` and the live page). */
  readonly describe?: string
  /**
   * How other producers key records to partitions: 'murmur2' (default, Java's)
   * or 'crc32' (librdkafka's default for keyed records: confluent-kafka for
   * Python, Go, .NET). stream-app's own keyed sends and key routing follow it.
   */
  readonly partitioner?: 'murmur2' | 'crc32'
}

export interface ChannelOptions<KS, VS> {
  readonly key?: KS
  readonly value?: VS
  /** Values buffered per reading agent before send() waits (default: the app's streamBufferMaxsize). */
  readonly maxsize?: number
  readonly describe?: string
}

/**
 * Told of each failure of an agent's handler (with the event it held, if any),
 * a timer's or a cron job's run; what it throws is logged.
 */
export type OnError<R extends Registry, Ev = never> = (
  error: unknown,
  ctx: Ctx<R>,
  event?: Ev,
) => void | Promise<void>

/** What `.service(name, layer)` provides: the service's shape (its class's `Service`, or the key's type). */
export type LayerResource<ROut> = ROut extends Context.ServiceClass.Shape<string, infer S> ? S : ROut

/** A service: `start` gives the resource, `stop` releases it. */
export interface ServiceSpec<R extends Registry, Res> {
  readonly start: (ctx: Ctx<R>) => Res | Promise<Res>
  readonly stop?: (resource: Res, ctx: Ctx<R>) => void | Promise<void>
}

/** The arguments of a hook: the partitions for the rebalance events, then the ctx. */
export type HookFn<R extends Registry, E extends HookEvent> = E extends
  | 'partitionsAssigned'
  | 'partitionsRevoked'
  ? (partitions: readonly PartitionRef[], ctx: Ctx<R>) => unknown
  : (ctx: Ctx<R>) => unknown

export interface AgentOptions<F extends string, S extends string, KS, VS> {
  /** Declared topic(s) to consume; without it the agent consumes its own topic. */
  readonly from?: F | readonly F[]
  /** Key schema of the agent's own topic (only without `from`). */
  readonly key?: KS
  /** Value schema of the agent's own topic (only without `from`). */
  readonly value?: VS
  readonly concurrency?: number
  /** Topics every yielded value is sent to. */
  readonly sink?: readonly S[]
  readonly supervisor?: SupervisorStrategy
  /** onInvalid of the agent's own topic. */
  readonly onInvalid?: OnInvalid
  /** Partitions of the agent's own topic. */
  readonly partitions?: number
  /** What the agent does (shown by `stream-app agents` and the live page). */
  readonly describe?: string
}

type AgentKey<R extends Registry, F, KS> = [F] extends [never] ? SchemaType<KS> : SourceKey<R, F>
type AgentValue<R extends Registry, F, VS> = [F] extends [never] ? SchemaType<VS> : SourceValue<R, F>
type AgentEntryOf<K, V, O> = { readonly key: K; readonly value: V; readonly reply: O }
type TableEntryOf<K, V, W> = {
  readonly key: K
  readonly value: V
  readonly windowed: W extends WindowSpec ? true : false
}
type AgentAddedBy<R extends Registry, N extends string, F, KS, VS, O> = AgentAdded<
  N,
  AgentEntryOf<AgentKey<R, F, KS>, AgentValue<R, F, VS>, O>,
  [F] extends [never] ? true : false
>

export interface SetTableOptions<KS, MS> {
  readonly key?: KS
  /** The members' schema (default: any JSON value). */
  readonly member?: MS
  readonly partitions?: number
  /** Every worker holds every partition (see TableOptions.global). */
  readonly global?: boolean
}

type SetEntryOf<K, M> = { readonly key: K; readonly value: M; readonly windowed: false; readonly set: true }

export interface TableOptions<V, KS, W> {
  /** Value of absent keys (not stored). The table's value type is inferred from it. */
  readonly default?: () => V
  readonly key?: KS
  readonly value?: Schema.Codec<V, unknown, never, never>
  readonly partitions?: number
  readonly window?: W
  /**
   * A global table: every worker holds every partition, kept current from the
   * changelog, so agents read any key (a lookup table); a key is written only
   * by the worker that owns its partition.
   */
  readonly global?: boolean
  /**
   * A windowed table with `grace`: what happens to a late event (one whose
   * windows have all closed): 'skip' (default; logged), 'dead-letter' (its
   * record to `<topic>.dead-letter`), or a function.
   */
  readonly onLate?: 'skip' | 'dead-letter' | ((event: LateEvent) => void)
  /**
   * A windowed table with `grace`: emits each window's final value once, when
   * the window closes — to a topic (key: the table key, value: `{ start, end,
   * value }`, sent in the commit that records it as emitted) or to a function.
   */
  readonly final?: string | ((key: SchemaType<KS>, window: WindowValue<V>) => void)
  /** What the table holds (shown by `stream-app tables` and the live page). */
  readonly describe?: string
  /**
   * Where a row lives: 'key' (default), the partition of its key (murmur2, or
   * the source topic's partitioner); 'event', the partition of the event that
   * wrote it, as Faust and Kafka Streams do — for records other producers put
   * in partitions of their choosing.
   */
  readonly partitioning?: 'key' | 'event'
}

export type AgentReturn<O> = AsyncIterable<O> | Promise<void> | void

/**
 * A stream-processing app. Immutable: every method returns a new App.
 *
 * @example
 * const app = createApp({ id: 'shop' })
 *   .topic('orders', { value: Order })
 *   .agent('track', { from: 'orders' }, async function* (orders) { for await (const o of orders) yield o })
 */
export interface App<R extends Registry = EmptyRegistry> {
  readonly id: string
  readonly definition: AppDefinition

  topic<
    const N extends string,
    KS extends AnySchema = typeof Schema.String,
    VS extends AnySchema | undefined = undefined,
    C extends CodecName = 'json',
  >(
    name: NotDeclared<N, R['topics']>,
    options?: TopicOptions<KS, VS, C>,
  ): App<R & Added<'topics', N, TopicEntryOf<KS, VS, C>>>

  agent<
    const N extends string,
    const F extends TopicName<R> | ChannelName<R> = never,
    const S extends TopicName<R> = never,
    KS extends AnySchema = typeof Schema.String,
    VS extends AnySchema = typeof Schema.Unknown,
    O = never,
  >(
    name: NotDeclared<N, R['agents']>,
    options: AgentOptions<F, S, KS, VS> &
      SinkCheck<R, S, O> & {
        readonly onError?: OnError<
          R & AgentAddedBy<R, N, F, KS, VS, unknown>,
          Event<AgentKey<R, F, KS>, AgentValue<R, F, VS>>
        >
      },
    handler: (
      stream: Stream<AgentValue<R, F, VS>, AgentKey<R, F, KS>>,
      ctx: Ctx<R & AgentAddedBy<R, N, F, KS, VS, unknown>>,
    ) => AgentReturn<O>,
  ): App<R & AgentAddedBy<R, N, F, KS, VS, O>>

  table<
    const N extends string,
    V = unknown,
    KS extends AnySchema = typeof Schema.String,
    W extends WindowSpec | undefined = undefined,
  >(
    name: NotDeclared<N, R['tables']>,
    options?: TableOptions<V, KS, W>,
  ): App<R & Added<'tables', N, TableEntryOf<SchemaType<KS>, V, W>>>

  /**
   * A windowed stream–stream join: every event of `left` meets every event of
   * `right` with the same key whose time is within `within` of its own, and
   * `join(left, right, key)` goes to `sink`. Both sides are buffered per key in
   * the table `<name>.buffer` (stored, with a changelog); the topics must be
   * co-partitioned. `type: 'left'` also joins each left event that met no right
   * one with undefined, once its window is over; `'outer'` does that for both
   * sides.
   */
  streamJoin<
    const N extends string,
    const L extends TopicName<R>,
    const Rt extends TopicName<R>,
    const S extends TopicName<R>,
    O = never,
    const J extends StreamJoinType = 'inner',
  >(
    name: NotDeclared<N, R['agents']>,
    options: StreamJoinOptions<L, Rt, S> & { readonly type?: J } & SinkCheck<R, S, O>,
    join: (
      left: J extends 'outer' ? TopicValue<R, L> | undefined : TopicValue<R, L>,
      right: J extends 'inner' ? TopicValue<R, Rt> : TopicValue<R, Rt> | undefined,
      key: TopicKey<R, L>,
    ) => O,
  ): App<R>

  /**
   * A table derived key for key from two tables (Kafka Streams' KTable join):
   * `join(leftValue, rightValue, key)` for every key the left table holds
   * (inner, the default: and the right one too; `type: 'left'`: right value
   * undefined when absent), kept current as either changes and committed with
   * them. Agents read it; only the join writes it.
   */
  tableJoin<
    const N extends string,
    const TL extends TableName<R>,
    const TR extends TableName<R>,
    V,
    const J extends 'inner' | 'left' = 'inner',
  >(
    name: NotDeclared<N, R['tables']>,
    options: { readonly left: TL; readonly right: TR; readonly type?: J; readonly value?: AnySchema },
    join: (
      left: R['tables'][TL]['value'],
      right: J extends 'left' ? R['tables'][TR]['value'] | undefined : R['tables'][TR]['value'],
      key: TableKey<R, TL>,
    ) => V,
  ): App<R & Added<'tables', N, TableEntryOf<TableKey<R, TL>, V, undefined>>>

  /**
   * A set table (Faust's SetTable): `ctx.tables.<name>.add(key, member)`,
   * `discard`, `has`, `get(key)` → the members. Its changelog holds one record
   * per add or discard of a member, so it compacts per member.
   */
  setTable<
    const N extends string,
    KS extends AnySchema = typeof Schema.String,
    MS extends AnySchema = typeof Schema.Unknown,
  >(
    name: NotDeclared<N, R['tables']>,
    options?: SetTableOptions<KS, MS>,
  ): App<R & Added<'tables', N, SetEntryOf<SchemaType<KS>, SchemaType<MS>>>>

  /**
   * An in-process channel: a typed, bounded queue agents read with `from` like
   * a topic; `ctx.channels.<name>.send(value, { key? })` waits while a reader's
   * buffer is full. Never on the broker, not durable.
   */
  channel<
    const N extends string,
    KS extends AnySchema = typeof Schema.String,
    VS extends AnySchema = typeof Schema.Unknown,
  >(
    name: NotDeclared<N, R['channels'] & R['topics'] & R['agents']>,
    options?: ChannelOptions<KS, VS>,
  ): App<R & Added<'channels', N, { readonly key: SchemaType<KS>; readonly value: SchemaType<VS> }>>

  timer<const N extends string>(
    name: NotDeclared<N, R['timers']>,
    options: { readonly every: Duration; readonly onLeader?: boolean; readonly onError?: OnError<R> },
    fn: (ctx: Ctx<R>) => unknown,
  ): App<R & Added<'timers', N, true>>

  cron<const N extends string>(
    name: NotDeclared<N, R['crons']>,
    options: {
      readonly schedule: string
      /** Default: the app's `timezone` ('UTC'). */
      readonly timezone?: string
      /** Run on one worker of the group only (the leader). */
      readonly onLeader?: boolean
      readonly onError?: OnError<R>
    },
    fn: (ctx: Ctx<R>) => unknown,
  ): App<R & Added<'crons', N, true>>

  /**
   * A resource the worker owns: started in declaration order before agents,
   * timers and the web server, stopped in reverse after them (also when a
   * later one fails to start). `ctx.services.<name>` is the resource.
   *
   * @example
   * app.service('db', { start: async () => openPool(), stop: (pool) => pool.end() })
   */
  service<const N extends string, Res>(
    name: NotDeclared<N, R['services']>,
    spec: ServiceSpec<R, Res>,
  ): App<R & Added<'services', N, Res>>
  /** A service from an Effect Layer that provides one service (built in the worker's scope). */
  service<const N extends string, ROut, E>(
    name: NotDeclared<N, R['services']>,
    layer: Layer.Layer<ROut, E, never>,
  ): App<R & Added<'services', N, LayerResource<ROut>>>

  /** Runs once on each worker when it is ready; a failure is logged (and given to onError). */
  task<const N extends string>(
    name: NotDeclared<N, R['tasks']>,
    fn: (ctx: Ctx<R>) => unknown,
  ): App<R & Added<'tasks', N, true>>
  task<const N extends string>(
    name: NotDeclared<N, R['tasks']>,
    options: { readonly onError?: OnError<R> },
    fn: (ctx: Ctx<R>) => unknown,
  ): App<R & Added<'tasks', N, true>>

  /**
   * A lifecycle hook: 'ready' (started, before tasks), 'stopping' (first thing
   * of a stop), 'partitionsAssigned' (their tables recovered, before any of
   * their records is processed), 'partitionsRevoked' (their processing stopped
   * and committed, before they go to another worker). A hook that throws is
   * logged; one still running after `timeout` (default 30 s) is left behind.
   */
  on<const E extends HookEvent>(event: E, fn: HookFn<R, E>, options?: { readonly timeout?: Duration }): App<R>

  /**
   * An HTTP route on the worker's web server; `c` is hono's Context. What the
   * handler returns (`c.json(…)`) is the route's type for `client<typeof app>()`.
   */
  route<const M extends HttpMethod | Lowercase<HttpMethod>, const P extends string, Res extends Response>(
    method: M,
    path: RouteFree<R, M, P>,
    handler: (c: RouteContext<P>, ctx: Ctx<R>) => Res | Promise<Res>,
  ): App<R & RouteAdded<M, P, Res>>
  /**
   * A route that answers for one key of a table: whichever worker receives it,
   * it runs on the worker holding that key (Faust's `table_route`).
   *
   * @example
   * app.route('GET', '/revenue/:customer', { table: 'revenue', key: (c) => c.req.param('customer') },
   *   (c, ctx) => c.json({ revenue: ctx.tables.revenue.get(c.req.param('customer')) }))
   */
  route<
    const M extends HttpMethod | Lowercase<HttpMethod>,
    const P extends string,
    const T extends TableName<R>,
    Res extends Response,
  >(
    method: M,
    path: RouteFree<R, M, P>,
    options: { readonly table: T; readonly key: (c: RouteContext<P>) => TableKey<R, T> },
    handler: (c: RouteContext<P>, ctx: Ctx<R>) => Res | Promise<Res>,
  ): App<R & RouteAdded<M, P, Res>>

  command<
    const N extends string,
    const O extends Readonly<Record<string, CommandOption>> = {},
    const A extends Readonly<Record<string, CommandArg>> = {},
  >(
    name: NotDeclared<N, R['commands']>,
    options: { readonly describe?: string; readonly options?: O; readonly args?: A },
    fn: (args: CommandArgs<O, A>, ctx: Ctx<R>) => unknown,
  ): App<R & Added<'commands', N, true>>

  /** Applies a module `(app) => app`, for composing apps from parts. */
  use<R2 extends Registry>(module: (app: App<R>) => App<R2>): App<R2>

  /** Starts a worker; resolves when it is ready (recovered, subscribed, web listening). */
  start(overrides?: Partial<AppConfig>): Promise<Worker<R>>
  /** A worker on memory:// broker and store, web off, with a test clock. */
  test(options?: TestOptions): Promise<TestWorker<R>>
  /** Runs the CLI with this app (argv defaults to process.argv.slice(2)). */
  main(argv?: readonly string[]): Promise<void>
}
