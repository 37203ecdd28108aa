/**
 * The public types the builder accumulates and the runtime fulfils: the registry
 * of declared names, streams, tables, the context handed to handlers, workers.
 */
import type { AppConfig, AppDefinition, CommandArgDef, CommandOptionDef, WebConfig } from './definition.ts'
import type { Duration } from './duration.ts'
import type { ResolvedProduction } from './production.ts'
import type { WindowRange } from './windows.ts'

// ---------------------------------------------------------------------------
// The registry: one type parameter with named bags.

export interface TopicEntry {
  readonly key: unknown
  readonly value: unknown
}
export interface TableEntry {
  readonly key: unknown
  readonly value: unknown
  readonly windowed: boolean
}
export interface ChannelEntry {
  readonly key: unknown
  readonly value: unknown
}
export interface AgentEntry {
  readonly key: unknown
  readonly value: unknown
  readonly reply: unknown
}

/** A route in the registry: its method, path and what its handler returns (hono's typed response). */
export interface RouteEntry {
  readonly method: string
  readonly path: string
  readonly response: unknown
}

export interface Registry {
  readonly topics: { readonly [name: string]: TopicEntry }
  readonly tables: { readonly [name: string]: TableEntry }
  readonly agents: { readonly [name: string]: AgentEntry }
  readonly timers: { readonly [name: string]: true }
  readonly crons: { readonly [name: string]: true }
  /** Keyed `METHOD path`. */
  readonly routes: { readonly [key: string]: unknown }
  readonly commands: { readonly [name: string]: true }
  /** Each service's resource type. */
  readonly services: { readonly [name: string]: unknown }
  readonly tasks: { readonly [name: string]: true }
  readonly channels: { readonly [name: string]: ChannelEntry }
}

export interface EmptyRegistry {
  readonly topics: {}
  readonly tables: {}
  readonly agents: {}
  readonly timers: {}
  readonly crons: {}
  readonly routes: {}
  readonly commands: {}
  readonly services: {}
  readonly tasks: {}
  readonly channels: {}
}

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/**
 * R with entry E added under name N to its bag B. An intersection, not a
 * rebuilt registry: each declaration adds one small object that does not
 * refer to R, so a registry of hundreds of declarations stays flat for the
 * type checker (nested rebuilt registries hit its instantiation depth limit
 * near a hundred declarations).
 */
export type Add<R extends Registry, B extends keyof Registry, N extends string, E> = R & Added<B, N, E>
/**
 * What one declaration adds to bag B. The builder's methods return
 * `App<R & Added<…>>` with R outside any alias: an alias of R would keep
 * every earlier registry as its argument and nest them.
 */
export type Added<B extends keyof Registry, N extends string, E> = {
  readonly [K in B]: { readonly [P in N]: E }
}
export type AddTopic<R extends Registry, N extends string, E extends TopicEntry> = Add<R, 'topics', N, E>
export type AddTable<R extends Registry, N extends string, E extends TableEntry> = Add<R, 'tables', N, E>
export type AddAgent<
  R extends Registry,
  N extends string,
  E extends AgentEntry,
  OwnTopic extends boolean,
> = R & AgentAdded<N, E, OwnTopic>
/** What declaring an agent adds (its entry, and its own topic when it has one); holds no R, so it stays flat. */
export type AgentAdded<N extends string, E extends AgentEntry, OwnTopic extends boolean> = {
  readonly agents: { readonly [P in N]: E }
} & (OwnTopic extends true
  ? { readonly topics: { readonly [P in N]: { readonly key: E['key']; readonly value: E['value'] } } }
  : {})

/** N, or a readable compile error when the bag already holds it. */
export type NotDeclared<N extends string, Bag> = N extends keyof Bag ? `'${N}' is already declared` : N
/** The registry key of a route. */
export type RouteKey<M extends string, P extends string> = `${Uppercase<M>} ${P}`

export type TopicName<R extends Registry> = keyof R['topics'] & string
export type TableName<R extends Registry> = keyof R['tables'] & string
export type TableKey<R extends Registry, N> = N extends keyof R['tables'] ? R['tables'][N]['key'] : never
export type TopicValue<R extends Registry, N> = N extends keyof R['topics'] ? R['topics'][N]['value'] : never
export type TopicKey<R extends Registry, N> = N extends keyof R['topics'] ? R['topics'][N]['key'] : never
export type ChannelName<R extends Registry> = keyof R['channels'] & string
/** The value type of what an agent reads: a topic's, or a channel's. */
export type SourceValue<R extends Registry, N> = N extends keyof R['topics']
  ? R['topics'][N]['value']
  : N extends keyof R['channels']
    ? R['channels'][N]['value']
    : never
export type SourceKey<R extends Registry, N> = N extends keyof R['topics']
  ? R['topics'][N]['key']
  : N extends keyof R['channels']
    ? R['channels'][N]['key']
    : never

// ---------------------------------------------------------------------------
// Events and streams

export type MessageHeaders = Readonly<Record<string, string>>

export interface Event<K, V> {
  readonly key: K
  readonly value: V
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
  readonly headers: MessageHeaders
}

/**
 * The stream an agent consumes: an async iterable of values with chainable
 * operators. A value counts as processed when the handler asks for the next one.
 */
export interface Stream<V, K = unknown> extends AsyncIterable<V> {
  /** Full events: key, value, topic, partition, offset, timestamp, headers. */
  events(): Stream<Event<K, V>, K>
  /** `[key, value]` pairs. */
  items(): Stream<[K, V], K>
  filter<S extends V>(fn: (value: V) => value is S): Stream<S, K>
  filter(fn: (value: V) => boolean | Promise<boolean>): Stream<V, K>
  map<U>(fn: (value: V) => U | Promise<U>): Stream<U, K>
  /** Arrays of up to n values (at least one), emitted at the latest `within` after the first. */
  take(n: number, within: Duration): Stream<V[], K>
  /**
   * Repartitions by a new key through the internal topic `<app>-<agent>-<name>-repartition`
   * (`partitions`: its partition count; default: the most of the app's source topics). A table
   * keyed by the new key is then co-partitioned with the stream.
   */
  groupBy<NK>(
    keyFn: (value: V) => NK,
    options: { readonly name: string; readonly partitions?: number },
  ): Stream<V, NK>
  /** Sends every value to a topic and continues with the stream of that topic. */
  through(topic: string): Stream<V, K>
  /** `[index, value]`, index counting from 0 for this stream. */
  enumerate(): Stream<[number, V], K>
  /**
   * Stream–table join (inner): each value with the table's value for the
   * event's key (or for `key(value, eventKey)`); values whose key has no row
   * are dropped (and count as processed). The table must be co-partitioned
   * with the stream's topic (same key, same partition count), or global:
   * a mismatch stops the agent at its first value with the counts named.
   */
  join<TV>(table: Table<K, TV>): Stream<[V, TV], K>
  join<TK, TV>(table: Table<TK, TV>, key: (value: V, key: K) => TK): Stream<[V, TV], K>
  /** Stream–table left join: like join, with `undefined` for a key without a row. */
  leftJoin<TV>(table: Table<K, TV>): Stream<[V, TV | undefined], K>
  leftJoin<TK, TV>(table: Table<TK, TV>, key: (value: V, key: K) => TK): Stream<[V, TV | undefined], K>
}

// ---------------------------------------------------------------------------
// Tables

export interface Table<K, V> {
  /** The value, or the table's default (not stored) when absent. */
  get(key: K): V
  set(key: K, value: V): void
  update(key: K, fn: (value: V) => V): void
  delete(key: K): void
  has(key: K): boolean
  entries(): IterableIterator<[K, V]>
  readonly size: number
}

export interface WindowValue<V> extends WindowRange {
  readonly value: V
}

export interface WindowedTable<K, V> {
  /** Sets the value in every window containing the current event's timestamp. */
  set(key: K, value: V): void
  /** Updates every window containing the current event's timestamp. */
  update(key: K, fn: (value: V) => V): void
  /** Deletes the key in every window containing the current event's timestamp. */
  delete(key: K): void
  /** The same table as seen at an explicit time (ms since the epoch). */
  at(timestampMs: number): WindowedTable<K, V>
  /** Value in the window of the current event (or of now outside an agent). */
  current(key: K): V
  /** Value in the window of wall-clock now. */
  now(key: K): V
  /** Value in the window `duration` before the current one. */
  delta(key: K, duration: Duration): V
  /** Every live window of the key, ordered by start. */
  windows(key: K): WindowValue<V>[]
  /** Keys with at least one live window. */
  keys(): IterableIterator<K>
  readonly size: number
}

/** A set table (Faust's SetTable): each key holds a set of members. */
export interface SetTable<K, M> {
  /** Adds a member to the key's set (logged once: adding a member twice writes nothing). */
  add(key: K, member: M): void
  /** Removes a member from the key's set. */
  discard(key: K, member: M): void
  has(key: K, member: M): boolean
  /** The key's members (empty when it has none). */
  get(key: K): ReadonlySet<M>
  /** Removes every member of the key. */
  delete(key: K): void
  /** Keys with at least one member. */
  keys(): IterableIterator<K>
  readonly size: number
}

export type TableOf<E extends TableEntry> = E extends { readonly set: true }
  ? SetTable<E['key'], E['value']>
  : E['windowed'] extends true
    ? WindowedTable<E['key'], E['value']>
    : Table<E['key'], E['value']>

// ---------------------------------------------------------------------------
// Context

export interface SendOptions<K> {
  readonly key?: K
  readonly headers?: Readonly<Record<string, string | Uint8Array>>
  readonly partition?: number
  readonly timestamp?: number
}

export interface SentRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
}

export interface TopicHandle<K, V> {
  readonly name: string
  send(value: V, options?: SendOptions<K>): Promise<SentRecord>
}

export interface AgentHandle<K, V, R> {
  readonly name: string
  /** Sends to the agent's topic (fire and forget, resolves when durable). */
  send(value: V, options?: { readonly key?: K }): Promise<SentRecord>
  /** Sends and waits for the first value the agent yields for it. */
  ask(value: V, options?: { readonly key?: K; readonly timeout?: Duration }): Promise<R>
}

/** An in-process channel: send() waits while a reading agent's buffer is full. */
export interface ChannelHandle<K, V> {
  readonly name: string
  send(value: V, options?: { readonly key?: K }): Promise<void>
}

export interface Logger {
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void
  info(message: string, fields?: Readonly<Record<string, unknown>>): void
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void
  error(message: string, fields?: Readonly<Record<string, unknown>>): void
}

export interface ResolvedConfig extends AppConfig {
  readonly broker: string
  readonly store: string
  readonly datadir: string
  readonly topicPartitions: number
  readonly guarantee: 'at_least_once' | 'exactly_once'
  readonly commitIntervalMs: number
  readonly standbyReplicas: number
  /** autoOffsetReset, declareTopics, stall and blocking timeouts, buffer and poll sizes, resolved. */
  readonly production: ResolvedProduction
  readonly telemetry: { readonly enabled: boolean }
  readonly web: {
    readonly enabled: boolean
    readonly port: number
    readonly host: string
    readonly cors?: NonNullable<WebConfig['cors']>
    /** Largest request body accepted, in bytes. */
    readonly bodyLimit: number
    /** The bearer token data endpoints require; undefined: they are open. */
    readonly token?: string
    readonly protectMetrics: boolean
    readonly records?: boolean
  }
}

export interface Ctx<R extends Registry> {
  readonly tables: { readonly [N in keyof R['tables']]: TableOf<R['tables'][N]> }
  readonly topics: {
    readonly [N in keyof R['topics']]: TopicHandle<R['topics'][N]['key'], R['topics'][N]['value']>
  }
  readonly agents: {
    readonly [N in keyof R['agents']]: AgentHandle<
      R['agents'][N]['key'],
      R['agents'][N]['value'],
      R['agents'][N]['reply']
    >
  }
  readonly channels: {
    readonly [N in keyof R['channels']]: ChannelHandle<R['channels'][N]['key'], R['channels'][N]['value']>
  }
  readonly log: Logger
  readonly app: { readonly id: string; readonly config: ResolvedConfig }
  /** The resources of the services declared before (`.service(name, …)`), started before anything runs. */
  readonly services: { readonly [N in keyof R['services']]: R['services'][N] }
  /**
   * Aborted when the worker stops, and in an agent when the partition of the
   * record in hand is revoked: pass it to fetch() and the like so a stop or a
   * rebalance does not wait for them.
   */
  readonly signal: AbortSignal
}

/** A partition in the rebalance hooks. */
export interface PartitionRef {
  readonly topic: string
  readonly partition: number
}

// ---------------------------------------------------------------------------
// Routes and commands

/**
 * What a route handler's `c` is. Core knows only that routes exist; the web
 * server's package declares the context it hands them (hono's, typed by the
 * path's parameters) by adding `context` to this interface, so core depends
 * on no web framework.
 */
// biome-ignore lint/suspicious/noEmptyInterface: the web package adds `context` (declaration merging needs an interface)
// biome-ignore lint/correctness/noUnusedVariables: P is the path the web package's `context` is typed by
export interface RouteContextTypes<P extends string> {}

export type RouteContext<P extends string> =
  RouteContextTypes<P> extends { readonly context: infer C } ? C : unknown

/** A command option (yargs' option settings): the definition's own type. */
export type CommandOption = CommandOptionDef

type OptionValue<O extends CommandOption> = O['type'] extends 'number'
  ? number
  : O['type'] extends 'boolean'
    ? boolean
    : O['type'] extends 'array'
      ? (string | number)[]
      : string

type RequiredOptionKeys<Os> = {
  [K in keyof Os]: Os[K] extends { default: unknown } | { demandOption: true } | { type: 'boolean' }
    ? K
    : never
}[keyof Os]

/** A positional argument of a command (`stream-app greet app.ts ann`): the definition's own type. */
export type CommandArg = CommandArgDef

type ArgValue<A extends CommandArg> = A['type'] extends 'number'
  ? number
  : A['type'] extends 'boolean'
    ? boolean
    : string

type OptionalArgKeys<As> = {
  [K in keyof As]: As[K] extends { optional: true } ? (As[K] extends { default: unknown } ? never : K) : never
}[keyof As]

/**
 * What a command's function gets: its options and positional arguments by
 * name, and `_`, any further positionals (never the command's own name).
 */
export type CommandArgs<
  Os extends Readonly<Record<string, CommandOption>>,
  As extends Readonly<Record<string, CommandArg>> = {},
> = Simplify<
  { [K in RequiredOptionKeys<Os>]: OptionValue<Os[K]> } & {
    [K in Exclude<keyof Os, RequiredOptionKeys<Os>>]?: OptionValue<Os[K]>
  } & { [K in Exclude<keyof As, OptionalArgKeys<As>>]: ArgValue<As[K]> } & {
    [K in OptionalArgKeys<As>]?: ArgValue<As[K]>
  } & { readonly _: readonly (string | number)[] }
>

// ---------------------------------------------------------------------------
// Workers

export interface Worker<R extends Registry> {
  readonly id: string
  readonly topics: Ctx<R>['topics']
  readonly tables: Ctx<R>['tables']
  readonly agents: Ctx<R>['agents']
  /** Web base URL (e.g. http://127.0.0.1:6066), or undefined when the web server is off. */
  readonly url: string | undefined
  readonly definition: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger
  /** Resolves when everything sent so far has been processed (and committed nothing less). */
  idle(options?: { readonly timeout?: Duration }): Promise<void>
  /** Commits now (sink sends, table changes, offsets). */
  commit(): Promise<void>
  /** Commits and shuts down cleanly. */
  stop(): Promise<void>
}

export interface TestWorker<R extends Registry> extends Worker<R> {
  /** Moves the test clock, firing timers, cron jobs and window expiry due in that time. */
  advance(duration: Duration): Promise<void>
  /** The test clock's now (ms since the epoch). */
  now(): number
  /** Events sent to a topic so far, in order (all partitions, by time of sending). */
  sent(topic: string): Event<unknown, unknown>[]
}
