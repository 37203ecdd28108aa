/**
 * Workers the node platform and the CLI start: a whole worker on the adapters
 * a config names (app.start(), `stream-app run`), a client for CLI commands
 * (sends, asks and table reads, no group membership), and `stream-app send`.
 */
import {
  type AppConfig,
  type AppDefinition,
  type CodecName,
  ConfigError,
  launch,
  makeLogger,
  resolveConfig,
  type TopicHandle,
  workerFacade,
} from '@stream-app/core'
import { adaptersLayer } from './adapters.ts'

export async function startWorker(def: AppDefinition, overrides?: Partial<AppConfig>) {
  const config = resolveConfig(def.config, overrides)
  const log = makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) })
  const rt = await launch(def, { config, log, layer: adaptersLayer(config, { web: true }) })
  return { runtime: rt, worker: workerFacade(rt) }
}

/** A client worker for CLI commands: sends, asks and table reads, no group membership. */
export async function startClient(def: AppDefinition, overrides: Partial<AppConfig> = {}) {
  const config = resolveConfig(def.config, { ...overrides, web: { enabled: false } })
  const log = makeLogger({ name: def.config.id, level: config.logLevel ?? 'warn' })
  // memory:// lives in this process: a command there gets a whole worker, agents included.
  const client = !config.broker.startsWith('memory://')
  const rt = await launch(def, { config, log, layer: adaptersLayer(config, { web: false }), client })
  return { ctx: rt.ctx, runtime: rt, stop: () => rt.stop() }
}

export interface CliSend {
  readonly topic: string
  readonly values: readonly string[]
  readonly key?: string
  readonly partition?: number
  readonly broker?: string
  /** How a line becomes a value: JSON when it parses (default), the text itself, or its bytes. */
  readonly as?: 'auto' | 'string' | 'raw'
}

/** `stream-app send`: encodes and validates each value with the topic's schema and sends it. */
export async function sendFromCli(def: AppDefinition, s: CliSend) {
  const config = resolveConfig(def.config, s.broker ? { broker: s.broker } : {})
  if (config.broker.startsWith('memory://'))
    throw new ConfigError(
      `cannot send to a memory:// broker from another process: it lives inside the worker (use sqlite:// or kafka://)`,
    )
  if (!Object.hasOwn(def.topics, s.topic)) throw new ConfigError(`unknown topic or agent '${s.topic}'`)
  const client = await startClient(def, s.broker ? { broker: s.broker } : {})
  try {
    const topics = client.ctx.topics as Record<string, TopicHandle<unknown, unknown>>
    const handle = topics[s.topic]!
    // All or nothing: every line must encode under the topic's schema before any is sent.
    const topic = client.runtime.topics.get(s.topic)!
    const values = s.values.map((line) => lineValue(line, topic.def.codec, s.as ?? 'auto', s.topic))
    values.forEach((value, i) => {
      try {
        topic.record(value, s.key, 0, undefined, s.partition)
      } catch (e) {
        throw new ConfigError(
          `${values.length > 1 ? `line ${i + 1}: ` : ''}${(e as Error).message}; nothing was sent`,
        )
      }
    })
    const out = []
    for (const value of values) {
      out.push(
        await handle.send(value, {
          ...(s.key !== undefined ? { key: s.key } : {}),
          ...(s.partition !== undefined ? { partition: s.partition } : {}),
        }),
      )
    }
    return out
  } finally {
    await client.stop()
  }
}

/**
 * A line of `send` as the value to send. A `string` topic takes the text as it
 * is and a `raw` topic its bytes (no quoting needed); a `json` topic the JSON
 * the line holds, or the text itself when it is not JSON (or with --string).
 */
function lineValue(line: string, codec: CodecName, as: 'auto' | 'string' | 'raw', topic: string): unknown {
  if (as === 'raw' && codec !== 'raw')
    throw new ConfigError(`--raw sends bytes, for a topic of codec 'raw'; '${topic}' has codec '${codec}'`)
  if (codec === 'raw') return Buffer.from(line, 'utf8')
  if (codec === 'string' || as === 'string') return line
  try {
    return JSON.parse(line)
  } catch {
    return line
  }
}
