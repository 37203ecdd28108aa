/**
 * Where records leave an agent: what it yields goes to every sink topic (keyed
 * by its event's key when the sink's key schema takes it) and answers an
 * ask(); groupBy/through forward records to their topic; a message that fails
 * to decode goes to its dead-letter topic or is skipped, per the topic's
 * onInvalid. Everything goes through the outbox.
 */
import * as Effect from 'effect/Effect'
import type * as Scope from 'effect/Scope'
import type { AgentDef } from '../definition/definition.ts'
import { ConfigError, messageOf } from '../definition/errors.ts'
import type { Logger, ResolvedConfig, WindowValue } from '../definition/types.ts'
import type { Broker, BrokerRecord } from '../ports/index.ts'
import type { Tracing } from '../ports/tracing.ts'
import type { Activity } from './internal/activity.ts'
import type { Cursor, Item } from './internal/cursor.ts'
import { Outbox } from './internal/outbox.ts'
import type { InvalidHandler } from './internal/source.ts'
import type { TableRuntime } from './internal/tables.ts'
import type { TopicRuntime } from './internal/topics.ts'
import { retryRunner } from './retry.ts'
import type { Timekeeper } from './time.ts'

/**
 * The worker's outbox, closed with the scope: its sends retry with the shared
 * backoff, and under exactly_once on a durable broker they are held until
 * the transaction commits (refused if the broker has no transactions).
 */
export const makeOutbox = (
  broker: Broker,
  config: ResolvedConfig,
  log: Logger,
  activity: Activity,
  onHeldAwait: () => void,
): Effect.Effect<Outbox, ConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const retry = yield* retryRunner((e, delay) =>
      log.warn(`send failed: ${messageOf(e)}; retrying in ${Math.round(delay)}ms`),
    )
    const outbox = new Outbox(broker.producer(), (e) => log.error(`send failed: ${messageOf(e)}`), {
      retry,
      onSettled: () => activity.notify(),
      onHeldAwait,
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        outbox.closed = true
      }),
    )
    if (config.guarantee === 'exactly_once' && !broker.url.startsWith('memory://')) {
      if (!broker.atomic && !broker.transactionalProducer)
        return yield* Effect.fail(
          new ConfigError(`guarantee 'exactly_once' is not supported by the broker ${broker.url}`),
        )
      outbox.holding = true
    }
    return outbox
  })

export const REPLY_TO = 'stream-app.reply-to'
export const CORRELATION_ID = 'stream-app.correlation-id'

export class Sinks {
  private readonly sinkCache = new Map<AgentDef, TopicRuntime[]>()
  private keyTopic: string | undefined
  private keyTopicSchema: unknown

  constructor(
    private readonly topics: ReadonlyMap<string, TopicRuntime>,
    private readonly outbox: Outbox,
    private readonly time: Timekeeper,
    private readonly log: Logger,
    /** Telemetry on: outgoing records carry the trace context of the handler's span. */
    private readonly tracing: Tracing | undefined = undefined,
  ) {}

  private sinksOf(agent: AgentDef): TopicRuntime[] {
    let sinks = this.sinkCache.get(agent)
    if (!sinks) this.sinkCache.set(agent, (sinks = agent.sink.map((s) => this.topics.get(s)!)))
    return sinks
  }

  /**
   * The event's key bytes, when the sink would encode its key to exactly those:
   * both topics share one String key schema, whose text round-trips. Saves a
   * schema encode and a buffer per forwarded record (a passthrough's keys).
   */
  private sameKeyBytes(item: Item, sink: TopicRuntime): Uint8Array | undefined {
    const rec = item.rec
    if (rec.key === null || !sink.stringKeys) return undefined
    if (rec.topic !== this.keyTopic) {
      this.keyTopic = rec.topic
      this.keyTopicSchema = this.topics.get(rec.topic)?.def.keySchema
    }
    return this.keyTopicSchema === sink.def.keySchema ? rec.key : undefined
  }

  /** A value an agent yielded: to every sink, and as the reply to an ask() of its event. */
  emit = (agent: AgentDef, value: unknown, cursor: Cursor): void => {
    const item = cursor.current
    const ts = item ? item.rec.timestamp : this.time.now()
    const sinks = this.sinksOf(agent)
    const tracing = this.tracing
    // A record of a topic is replayed by a rewind if its sink write fails; a channel's value is not.
    const replayable = item?.tracker !== undefined
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i]!
      // The sink keeps the event's key when its key schema accepts it, else the record is unkeyed.
      const keyBytes = item === undefined ? undefined : this.sameKeyBytes(item, sink)
      const key = keyBytes === undefined ? item?.key : undefined
      const headers = tracing === undefined ? undefined : tracing.produce(sink.name, cursor.span, undefined)
      this.outbox.push(sink.record(value, key, ts, headers, undefined, true, keyBytes), replayable)
    }
    if (item && !item.replied) {
      const replyTo = item.rec.headers[REPLY_TO]
      const corr = item.rec.headers[CORRELATION_ID]
      if (replyTo && corr) {
        item.replied = true
        const text = JSON.stringify({ value })
        const topic = Buffer.from(replyTo).toString('utf8')
        this.outbox.push({
          topic,
          partition: 0,
          key: corr,
          value: Buffer.from(text ?? '{}'),
          timestamp: this.time.now(),
          ...(tracing === undefined ? {} : { headers: tracing.produce(topic, cursor.span, undefined) }),
        })
      }
    }
  }

  /**
   * groupBy/through: the record goes on to `topic`, with its source's timestamp
   * and headers (with telemetry on, the trace context continued from them).
   */
  forward = (agent: string, topic: string, key: unknown, value: unknown, from: Item): void => {
    const rt = this.topics.get(topic)!
    const tracing = this.tracing
    const headers = tracing === undefined ? from.rec.headers : tracing.forward(agent, topic, from.rec)
    this.outbox.push(rt.record(value, key, from.rec.timestamp, headers), from.tracker !== undefined)
  }

  /**
   * A closed window's final value (windowed tables with `final`): to its
   * topic (key: the table key, value: { start, end, value }, carrying the
   * closing event's timestamp) or to its callback.
   */
  windowClosed(t: TableRuntime, key: unknown, w: WindowValue<unknown>, cursor: Cursor): void {
    const final = t.def.final
    if (typeof final === 'function') {
      final(key, w)
      return
    }
    if (typeof final !== 'string') return
    const from = cursor.current
    const ts = from ? from.rec.timestamp : this.time.now()
    const headers = this.tracing?.produce(final, cursor.span, undefined)
    this.outbox.push(
      this.topics.get(final)!.record({ start: w.start, end: w.end, value: w.value }, key, ts, headers),
    )
  }

  /** An event for windows that closed already: per the table's onLate (skipped and logged by default). */
  lateEvent(t: TableRuntime, cursor: Cursor, streamTime: number): void {
    const rec = cursor.current?.rec
    if (rec === undefined) return
    const onLate = t.def.onLate ?? 'skip'
    const where = {
      table: t.name,
      topic: rec.topic,
      partition: rec.partition,
      offset: rec.offset,
      streamTime,
    }
    if (typeof onLate === 'function')
      onLate({
        key: cursor.current!.key,
        timestamp: rec.timestamp,
        topic: rec.topic,
        partition: rec.partition,
        offset: rec.offset,
        streamTime,
      })
    else if (onLate === 'dead-letter') {
      this.deadLetter(rec, `late: its windows closed at stream time ${streamTime}`, t.name)
      this.log.warn('late event sent to dead-letter topic', { ...where, to: `${rec.topic}.dead-letter` })
    } else this.log.warn('late event skipped', where)
  }

  private deadLetter(rec: BrokerRecord, reason: string, agent: string): void {
    const dlq = `${rec.topic}.dead-letter`
    const dlqPartitions = this.topics.get(dlq)?.partitions ?? this.topics.get(rec.topic)?.partitions ?? 1
    this.outbox.push({
      topic: dlq,
      partition: rec.partition % dlqPartitions,
      key: rec.key,
      value: rec.value,
      timestamp: rec.timestamp,
      headers: {
        ...rec.headers,
        'stream-app.error': Buffer.from(reason),
        'stream-app.error-topic': Buffer.from(rec.topic),
        'stream-app.error-partition': Buffer.from(String(rec.partition)),
        'stream-app.error-offset': Buffer.from(String(rec.offset)),
        'stream-app.error-agent': Buffer.from(agent),
      },
    })
  }

  /** A message that failed to decode: per its topic's onInvalid, dead-lettered, skipped, or (false) fatal. */
  invalid: InvalidHandler = (
    topic: TopicRuntime,
    rec: BrokerRecord,
    reason: string,
    agent: string,
  ): boolean => {
    const mode = topic.def.onInvalid
    const where = { topic: rec.topic, partition: rec.partition, offset: rec.offset, agent, reason }
    if (mode === 'fail') return false
    if (mode === 'dead-letter') {
      const dlq = `${topic.name}.dead-letter`
      this.deadLetter(rec, reason, agent)
      this.log.warn('invalid message sent to dead-letter topic', { ...where, to: dlq })
      return true
    }
    this.log.warn('invalid message skipped', where)
    return true
  }
}
