/**
 * `stream-app send <app> <topic> [value]`: one value, or one message a line of
 * stdin, each line with its own key when asked (`--key-field` of a JSON value,
 * or `key<TAB>value` with `--keyed`), stamped with `--timestamp` and carrying
 * `--header`s. All or nothing: the options are checked before stdin is read,
 * every line is encoded under the topic's schema before any is sent, and the
 * lines then go out together through one client (one producer session), so
 * the outbox writes them in a few batches rather than one round trip a line.
 */
import { createInterface } from 'node:readline'
import {
  type AppDefinition,
  type CodecName,
  ConfigError,
  type SentRecord,
  type TopicHandle,
} from '@stream-app/core'
import { asFailure, messageOf, resolveConfig, type WorkerRuntime } from '@stream-app/core/runtime'
import * as Effect from 'effect/Effect'
import { withClient } from '../workers.ts'
import type { Io } from './commands.ts'

type Args = Readonly<Record<string, unknown>>

export interface SendOptions {
  readonly topic: string
  readonly key?: string
  readonly keyField?: string
  readonly keyed: boolean
  readonly partition?: number
  readonly broker?: string
  /** How a line becomes a value: JSON when it parses (default), the text itself, or its bytes. */
  readonly as: 'auto' | 'string' | 'raw'
  readonly timestamp?: number
  readonly headers?: Readonly<Record<string, string>>
}

/** `--timestamp`: epoch milliseconds or an ISO time. */
export function parseTimestamp(text: string): number {
  const t = text.trim()
  if (/^\d+$/.test(t)) return Number(t)
  const ms = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN
  if (Number.isNaN(ms))
    throw new ConfigError(
      `bad --timestamp '${text}': expected epoch milliseconds (e.g. 1767225600000) or an ISO time (e.g. 2026-01-01T00:00:00Z)`,
    )
  return ms
}

/** `--header k=v`, given once or more. */
export function parseHeaders(given: unknown): Record<string, string> | undefined {
  if (given === undefined) return undefined
  const headers: Record<string, string> = {}
  for (const h of (Array.isArray(given) ? given : [given]).map(String)) {
    const at = h.indexOf('=')
    if (at <= 0) throw new ConfigError(`bad --header '${h}': expected name=value`)
    headers[h.slice(0, at)] = h.slice(at + 1)
  }
  return headers
}

/** The options of `send`, checked: a ConfigError names the first bad one. */
export function sendOptions(a: Args): SendOptions {
  if (a.key !== undefined && (a['key-field'] !== undefined || a.keyed))
    throw new ConfigError('--key gives every message one key: it cannot go with --key-field or --keyed')
  if (a['key-field'] !== undefined && a.keyed)
    throw new ConfigError('--key-field and --keyed both give each line its key: use one')
  const headers = parseHeaders(a.header)
  return {
    topic: String(a.topic),
    ...(a.key !== undefined ? { key: String(a.key) } : {}),
    ...(a['key-field'] !== undefined ? { keyField: String(a['key-field']) } : {}),
    keyed: Boolean(a.keyed),
    ...(a.partition !== undefined ? { partition: a.partition as number } : {}),
    ...(a.broker ? { broker: String(a.broker) } : {}),
    as: a.string ? 'string' : a.raw ? 'raw' : 'auto',
    ...(a.timestamp !== undefined ? { timestamp: parseTimestamp(String(a.timestamp)) } : {}),
    ...(headers ? { headers } : {}),
  }
}

/**
 * A line's text as the value to send. A `string` topic takes the text as it
 * is and a `raw` topic its bytes (no quoting needed); a `json` topic the JSON
 * the line holds, or the text itself when it is not JSON (or with --string).
 */
function lineValue(text: string, codec: CodecName, as: SendOptions['as'], topic: string): unknown {
  if (as === 'raw' && codec !== 'raw')
    throw new ConfigError(`--raw sends bytes, for a topic of codec 'raw'; '${topic}' has codec '${codec}'`)
  if (codec === 'raw') return Buffer.from(text, 'utf8')
  if (codec === 'string' || as === 'string') return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A key given as text: as is for a topic of string keys, else the JSON it holds (a number key, say). */
function keyOf(text: string, stringKeys: boolean): unknown {
  if (stringKeys) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

interface Message {
  readonly value: unknown
  readonly key: unknown
}

/** One line as a message: its key (from --key, --keyed or --key-field) and value. */
function toMessage(text: string, o: SendOptions, codec: CodecName, stringKeys: boolean): Message {
  if (o.keyed) {
    const tab = text.indexOf('\t')
    if (tab < 0) throw new ConfigError('no TAB between key and value (--keyed takes key<TAB>value lines)')
    return {
      key: keyOf(text.slice(0, tab), stringKeys),
      value: lineValue(text.slice(tab + 1), codec, o.as, o.topic),
    }
  }
  const value = lineValue(text, codec, o.as, o.topic)
  if (o.keyField !== undefined) {
    const field =
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)[o.keyField]
        : undefined
    if (field === undefined || field === null)
      throw new ConfigError(`no field '${o.keyField}' for the key (--key-field takes JSON objects)`)
    return { key: stringKeys && typeof field !== 'string' ? String(field) : field, value }
  }
  return { key: o.key === undefined ? undefined : keyOf(o.key, stringKeys), value }
}

/**
 * Encodes every line with the topic's schema, then sends them all through a
 * client worker; nothing is sent if any line is bad.
 */
export async function sendLines(
  client: WorkerRuntime,
  o: SendOptions,
  lines: readonly string[],
): Promise<SentRecord[]> {
  const handle = (client.ctx.topics as Record<string, TopicHandle<unknown, unknown>>)[o.topic]!
  const topic = client.inspect.topic(o.topic)!
  const where = (i: number) => (lines.length > 1 ? `line ${i + 1}: ` : '')
  const messages = lines.map((text, i) => {
    try {
      const m = toMessage(text, o, topic.codec, topic.stringKeys)
      topic.check(m.value, {
        ...(m.key !== undefined ? { key: m.key } : {}),
        ...(o.partition !== undefined ? { partition: o.partition } : {}),
      })
      return m
    } catch (e) {
      throw new ConfigError(`${where(i)}${messageOf(e)}; nothing was sent`)
    }
  })
  // Queued in one turn: the outbox writes them in batches, each line's order kept within its partition.
  return await Promise.all(
    messages.map((m) =>
      handle.send(m.value, {
        ...(m.key !== undefined ? { key: m.key } : {}),
        ...(o.partition !== undefined ? { partition: o.partition } : {}),
        ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
        ...(o.headers ? { headers: o.headers } : {}),
      }),
    ),
  )
}

/** The options checked and the lines read (the value given, or stdin), before any client starts. */
async function input(def: AppDefinition, a: Args): Promise<{ o: SendOptions; lines: string[] }> {
  const o = sendOptions(a)
  const config = resolveConfig(def.config, o.broker ? { broker: o.broker } : {})
  if (config.broker.startsWith('memory://'))
    throw new ConfigError(
      `cannot send to a memory:// broker from another process: it lives inside the worker (use sqlite:// or kafka://)`,
    )
  if (!Object.hasOwn(def.topics, o.topic)) throw new ConfigError(`unknown topic or agent '${o.topic}'`)
  const codec = def.topics[o.topic]!.codec ?? 'json'
  if (o.as === 'raw' && codec !== 'raw')
    throw new ConfigError(`--raw sends bytes, for a topic of codec 'raw'; '${o.topic}' has codec '${codec}'`)
  const lines: string[] = []
  if (a.value !== undefined) lines.push(String(a.value))
  else
    for await (const line of createInterface({ input: process.stdin }))
      if (line.trim() !== '') lines.push(line)
  return { o, lines }
}

/** `send`: the options checked, then the value given or the lines of stdin, sent all or nothing. */
export const send = (def: AppDefinition, a: Args, io: Io): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    const { o, lines } = yield* Effect.tryPromise({ try: () => input(def, a), catch: asFailure })
    const sent = yield* withClient(def, o.broker ? { broker: o.broker } : {}, (client) =>
      sendLines(client, o, lines),
    )
    if (sent.length) io.out(sent.map((s) => JSON.stringify(s)).join('\n'))
    return 0
  })
