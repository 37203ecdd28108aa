/**
 * The ctx handed to handlers, timers, cron jobs, routes and commands: table
 * views (bound to a cursor, so a windowed table sees the current event's
 * time), and handles that send to topics and agents and ask agents.
 */

import type { AgentDef } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { ConfigError } from '../definition/errors.ts'
import type {
  AgentHandle,
  Logger,
  ResolvedConfig,
  SendOptions,
  SentRecord,
  TopicHandle,
} from '../definition/types.ts'
import type { Cursor } from './internal/cursor.ts'
import type { Outbox } from './internal/outbox.ts'
import { tableView } from './internal/table-views.ts'
import type { TableRuntime } from './internal/tables.ts'
import { encodeHeaders, type TopicRuntime } from './internal/topics.ts'
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

  /** A ctx whose tables see `cursor`'s current event. */
  make(cursor: Cursor): Record<string, unknown> {
    // Plain data properties (a view is two fields): `ctx.tables.x` in a handler is a field load per message.
    const tables: Record<string, unknown> = {}
    for (const [name, t] of this.d.tables) tables[name] = tableView(t, cursor)
    return Object.freeze({
      tables: Object.freeze(tables),
      topics: this.topicHandles,
      agents: this.agentHandles,
      log: this.d.log,
      app: this.app,
    })
  }

  private topicHandle(t: TopicRuntime): TopicHandle<unknown, unknown> {
    const { outbox, time, ensureRunning } = this.d
    return {
      name: t.name,
      send: async (value: unknown, o: SendOptions<unknown> = {}): Promise<SentRecord> => {
        ensureRunning(`send to '${t.name}'`)
        const rec = t.record(value, o.key, o.timestamp ?? time.now(), encodeHeaders(o.headers), o.partition)
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

  private agentHandle(a: AgentDef): AgentHandle<unknown, unknown, unknown> {
    const { outbox, time, ensureRunning, rpc, topics } = this.d
    const topic = topics.get(a.from[0]!)!
    const own = topic.def.ownedBy === a.name
    const send = async (value: unknown, o: { key?: unknown; headers?: Record<string, Uint8Array> } = {}) => {
      ensureRunning(`send to agent '${a.name}'`)
      if (!own && a.from.length > 1)
        throw new ConfigError(
          `agent '${a.name}' consumes several topics; send to one of them with ctx.topics`,
        )
      const rec = topic.record(value, o.key, time.now(), o.headers)
      if (outbox.holding) {
        // exactly-once: the record is written by the next commit; ask for one soon, do not wait for it.
        outbox.push(rec)
        outbox.onHeldAwait()
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
        return rpc.ask(a.name, timeoutMs, (headers) =>
          send(value, { ...(o.key !== undefined ? { key: o.key } : {}), headers }),
        ) as Promise<never>
      },
    }
  }
}
