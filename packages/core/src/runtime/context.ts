/**
 * The ctx handed to handlers, timers, cron jobs, routes and commands: table
 * views (bound to a cursor, so a windowed table sees the current event's
 * time), handles that send to topics and agents and ask agents, the services'
 * resources, and `signal` (the record in hand's partition's, else the worker's).
 */

import type { AgentDef } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { ConfigError } from '../definition/errors.ts'
import type {
  AgentHandle,
  ChannelHandle,
  Logger,
  ResolvedConfig,
  SendOptions,
  SentRecord,
  TopicHandle,
} from '../definition/types.ts'
import type { Headers } from '../ports/index.ts'
import type { Tracing } from '../ports/tracing.ts'
import type { Cursor } from './internal/cursor.ts'
import type { Outbox } from './internal/outbox.ts'
import { tableView } from './internal/table-views.ts'
import type { TableRuntime } from './internal/tables.ts'
import { encodeHeaders, type TopicRuntime } from './internal/topics.ts'
import type { Signals } from './lifecycle.ts'
import type { Rpc } from './rpc.ts'
import type { Timekeeper } from './time.ts'

const DEFAULT_ASK_TIMEOUT_MS = 30_000

export interface ContextDeps {
  readonly id: string
  readonly config: ResolvedConfig
  readonly log: Logger
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly tables: ReadonlyMap<string, TableRuntime>
  readonly agents: readonly AgentDef[]
  readonly outbox: Outbox
  readonly rpc: Rpc
  readonly time: Timekeeper
  /** Throws StoppedError once the worker is stopping. */
  readonly ensureRunning: (what: string) => void
  /** Telemetry on: sends and asks carry the trace context of the handler's span (or the caller's). */
  readonly tracing?: Tracing | undefined
  /** ctx.services: the services' resources by name. */
  readonly services: Readonly<Record<string, unknown>>
  readonly signals: Signals
  /** `ctx.channels` (one set for every ctx: a channel has no trace context to carry). */
  readonly channels?: Readonly<Record<string, ChannelHandle<unknown, unknown>>>
}

export class Contexts {
  readonly topicHandles: Record<string, TopicHandle<unknown, unknown>> = {}
  readonly agentHandles: Record<string, AgentHandle<unknown, unknown, unknown>> = {}
  private readonly app: { readonly id: string; readonly config: ResolvedConfig }

  constructor(private readonly d: ContextDeps) {
    this.app = Object.freeze({ id: d.id, config: d.config })
    for (const t of d.topics.values()) this.topicHandles[t.name] = this.topicHandle(t)
    for (const a of d.agents) this.agentHandles[a.name] = this.agentHandle(a)
  }

  /**
   * A ctx whose tables see `cursor`'s current event. With telemetry on its
   * topic and agent handles are the cursor's own (one set per handler run), so
   * what the handler sends is traced under the span of the record it holds.
   */
  make(cursor: Cursor): Record<string, unknown> {
    // Plain data properties (a view is two fields): `ctx.tables.x` in a handler is a field load per message.
    const tables: Record<string, unknown> = {}
    for (const [name, t] of this.d.tables) tables[name] = tableView(t, cursor)
    let topics = this.topicHandles
    let agents = this.agentHandles
    if (this.d.tracing !== undefined) {
      topics = {}
      agents = {}
      for (const t of this.d.topics.values()) topics[t.name] = this.topicHandle(t, cursor)
      for (const a of this.d.agents) agents[a.name] = this.agentHandle(a, cursor)
    }
    const signals = this.d.signals
    return Object.freeze({
      tables: Object.freeze(tables),
      topics,
      agents,
      channels: this.d.channels ?? {},
      log: this.d.log,
      app: this.app,
      services: this.d.services,
      // A getter: read only by the handlers that use it, for the record they hold at that moment.
      get signal(): AbortSignal {
        const rec = cursor.current?.rec
        return rec === undefined ? signals.worker : signals.of(rec.topic, rec.partition)
      },
    })
  }

  /** The headers of a record sent to `topic`: with telemetry on, plus the trace context. */
  private traced(
    topic: string,
    cursor: Cursor | undefined,
    headers: Headers | undefined,
  ): Headers | undefined {
    const tracing = this.d.tracing
    return tracing === undefined ? headers : tracing.produce(topic, cursor?.span, headers)
  }

  private topicHandle(t: TopicRuntime, cursor?: Cursor): TopicHandle<unknown, unknown> {
    const { outbox, time, ensureRunning } = this.d
    return {
      name: t.name,
      send: async (value: unknown, o: SendOptions<unknown> = {}): Promise<SentRecord> => {
        ensureRunning(`send to '${t.name}'`)
        const headers = this.traced(t.name, cursor, encodeHeaders(o.headers))
        const rec = t.record(value, o.key, o.timestamp ?? time.now(), headers, o.partition)
        const meta = await outbox.pushAwait(rec)
        return {
          topic: meta.topic,
          partition: meta.partition,
          offset: meta.offset,
          timestamp: meta.timestamp,
        }
      },
    }
  }

  /** An agent reading a channel: send() goes to the channel; there is no reply topic to ask through. */
  private channelAgentHandle(agent: string, channel: string): AgentHandle<unknown, unknown, unknown> {
    const handle = () => {
      const h = this.d.channels?.[channel]
      if (!h) throw new ConfigError(`agent '${agent}': channel '${channel}' is not running`)
      return h
    }
    return {
      name: agent,
      send: async (value, o) => {
        await handle().send(value, o)
        return { topic: channel, partition: 0, offset: -1, timestamp: this.d.time.now() }
      },
      ask: async () => {
        throw new ConfigError(
          `agent '${agent}' reads channel '${channel}': ask() needs a topic (send to the channel instead)`,
        )
      },
    }
  }

  private agentHandle(a: AgentDef, cursor?: Cursor): AgentHandle<unknown, unknown, unknown> {
    const { outbox, time, ensureRunning, rpc, topics, tracing } = this.d
    if (a.channel !== undefined) return this.channelAgentHandle(a.name, a.channel)
    const topic = topics.get(a.from[0]!)!
    const own = topic.def.ownedBy === a.name
    const send = async (
      value: unknown,
      o: { key?: unknown; headers?: Record<string, Uint8Array> } = {},
      /** An ask's request: its headers already carry the ask's span. */
      traced = false,
    ) => {
      ensureRunning(`send to agent '${a.name}'`)
      if (!own && a.from.length > 1)
        throw new ConfigError(
          `agent '${a.name}' consumes several topics; send to one of them with ctx.topics`,
        )
      const headers = traced ? o.headers : this.traced(topic.name, cursor, o.headers)
      const rec = topic.record(value, o.key, time.now(), headers)
      if (outbox.holding) {
        // exactly-once: the record is written by the next commit; ask for one soon, do not wait for it.
        outbox.push(rec)
        outbox.requestCommit()
        return { topic: rec.topic, partition: rec.partition, offset: -1, timestamp: rec.timestamp }
      }
      const meta = await outbox.pushAwait(rec)
      return { topic: meta.topic, partition: meta.partition, offset: meta.offset, timestamp: meta.timestamp }
    }
    return {
      name: a.name,
      send: (value, o) => send(value, o ?? {}),
      ask: (value, o = {}) => {
        const timeoutMs = toMillis(
          (o.timeout ?? DEFAULT_ASK_TIMEOUT_MS) as Duration,
          `ask '${a.name}' timeout`,
        )
        const key = o.key !== undefined ? { key: o.key } : {}
        if (tracing === undefined)
          return rpc.ask(a.name, timeoutMs, (headers) => send(value, { ...key, headers })) as Promise<never>
        // The ask's span lasts until the reply comes; the request carries it, the agent's span is its child.
        const span = tracing.ask(a.name, topic.name, cursor?.span)
        const asked = rpc.ask(a.name, timeoutMs, (headers) =>
          send(value, { ...key, headers: { ...tracing.headers(span, headers) } }, true),
        )
        asked.then(
          () => tracing.answered(span),
          (e: unknown) => tracing.answered(span, e ?? new Error('ask failed')),
        )
        return asked as Promise<never>
      },
    }
  }
}
