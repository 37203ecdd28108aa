/**
 * The one place that touches @confluentinc/kafka-javascript's low-level
 * (node-rdkafka style) API: the library import, the client configuration every
 * connection shares, librdkafka error → BrokerError mapping, and small promise
 * wrappers. The low-level API is used on purpose: it gives batch consume,
 * assign, pause/resume, seek, async commits and transactions with our own
 * timeouts (the KafkaJS-style API hard-codes 5 s for commit/abort).
 */

import type { LibrdKafkaError, MessageHeader } from '@confluentinc/kafka-javascript'
import kafka from '@confluentinc/kafka-javascript'
import { BrokerError, type Logger, type ProduceRecord } from '@stream-app/core'
import { NO_HEADERS } from '@stream-app/core/runtime'

export const { KafkaConsumer, Producer, AdminClient, OffsetSpec, IsolationLevel } = kafka
export type RdConsumer = InstanceType<typeof KafkaConsumer>
export type RdProducer = InstanceType<typeof Producer>
export type RdAdmin = ReturnType<typeof AdminClient.createFrom>
export type RdConfig = Record<string, unknown>

/** librdkafka error codes we act on (lib/error.js). */
export const Code = {
  TRANSPORT: -195,
  RESOLVE: -193,
  MSG_TIMED_OUT: -192,
  ALL_BROKERS_DOWN: -187,
  TIMED_OUT: -185,
  QUEUE_FULL: -184,
  SSL: -181,
  STATE: -172,
  NOENT: -156,
  AUTHENTICATION: -169,
  TIMED_OUT_QUEUE: -166,
  FATAL: -150,
  /** This transactional producer was fenced (a newer epoch of its id). */
  FENCED: -144,
  REVOKE_PARTITIONS: -174,
  ASSIGN_PARTITIONS: -175,
  UNKNOWN_TOPIC_OR_PART: 3,
  NOT_LEADER: 6,
  TOPIC_ALREADY_EXISTS: 36,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  SASL_AUTHENTICATION_FAILED: 58,
  LEADER_NOT_AVAILABLE: 5,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
} as const

const UNREACHABLE = new Set<number>([
  Code.TRANSPORT,
  Code.RESOLVE,
  Code.MSG_TIMED_OUT,
  Code.ALL_BROKERS_DOWN,
  Code.TIMED_OUT,
  Code.TIMED_OUT_QUEUE,
])
const AUTH = new Set<number>([
  Code.AUTHENTICATION,
  Code.SASL_AUTHENTICATION_FAILED,
  Code.SSL,
  Code.TOPIC_AUTHORIZATION_FAILED,
  Code.GROUP_AUTHORIZATION_FAILED,
  Code.CLUSTER_AUTHORIZATION_FAILED,
  Code.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
])

export const errorCode = (e: unknown): number | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number'
    ? (e as { code: number }).code
    : undefined

/** A librdkafka message as one line, without its state and bootstrap noise. */
const tidy = (s: string) =>
  s
    .replace(/ \(after \d+ms in state [^()]*(\(s\)[^()]*)?\)/g, '')
    .replace(/^\S+:\/\/\S+\/bootstrap: |^\S+\/bootstrap: /, '')
    .replace(/\s+/g, ' ')
    .trim()

/** A librdkafka log line (`event.log`); severity is syslog's (3 = error). */
interface LogEvent {
  readonly severity: number
  readonly fac: string
  readonly message: string
}

/** Why a connect failed early: every bootstrap broker refused us, or the credentials were refused. */
class EarlyConnectError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message)
  }
}

const AUTH_LOG =
  /SASL authentication error|Authentication failed|SSL handshake failed|SASL.*(mechanism|handshake)/i

/**
 * What every client of one broker connection shares: the bootstrap list (for
 * messages), the logger, and the last authentication failure. librdkafka
 * reports a wrong SASL password or a refused connection only in its log (the
 * request itself just times out), so the log is watched for both.
 */
export class ClientContext {
  authError: string | undefined
  private lastLogged = new Map<string, number>()
  /** Clients inside (or abandoned by) connect(): their failures end up in connect's one-line error, not also in the log. */
  private readonly connecting = new WeakSet<object>()

  constructor(
    readonly bootstrap: string,
    readonly config: RdConfig,
    readonly log: Logger | undefined,
  ) {}

  /** Attaches error and log listeners to a librdkafka client. */
  watch(client: RdConsumer | RdProducer, name: string): void {
    const c = client as RdProducer
    c.on('event.error', (e: LibrdKafkaError) => {
      if (AUTH.has(e.code)) this.authError = tidy(e.message)
      if (!this.connecting.has(c)) this.report('warn', `kafka ${name}: ${tidy(e.message)}`)
    })
    c.on('event.log', (e: LogEvent) => {
      if (e.severity > 3) return
      const text = tidy(e.message.replace(/^\[thrd:[^\]]*\]:\s*/, ''))
      if (AUTH_LOG.test(text)) this.authError = text
      if (!this.connecting.has(c)) this.report('warn', `kafka ${name}: ${text}`)
    })
  }

  /**
   * Connects a client, failing as soon as every bootstrap broker refused the
   * connection twice or the credentials were refused, instead of after the
   * full metadata timeout.
   */
  connect(
    client: RdConsumer | RdProducer,
    connect: (cb: (err: unknown, result?: unknown) => void) => void,
  ): Promise<void> {
    const disconnect = () => {
      try {
        ;(client as RdProducer).disconnect(() => {})
      } catch {}
    }
    const c = client as RdProducer
    const hosts = this.bootstrap.split(',')
    const failures = new Map<string, number>()
    let onLog: ((e: LogEvent) => void) | undefined
    const early = new Promise<never>((_, reject) => {
      onLog = (e) => {
        if (e.severity > 3) return
        const text = tidy(e.message.replace(/^\[thrd:[^\]]*\]:\s*/, ''))
        if (AUTH_LOG.test(text)) return reject(new EarlyConnectError(text, Code.AUTHENTICATION))
        const host = hosts.find((h) => e.message.includes(`${h}/bootstrap`))
        if (!host || !/Connect to .* failed|Connection refused|Name or service not known/i.test(text)) return
        failures.set(host, (failures.get(host) ?? 0) + 1)
        if (hosts.every((h) => (failures.get(h) ?? 0) >= 2))
          reject(new EarlyConnectError(text, Code.ALL_BROKERS_DOWN))
      }
      c.on('event.log', onLog)
    })
    this.connecting.add(c)
    const real = call(connect)
    // A failed connect disconnects itself; one abandoned by an early failure is closed if it still succeeds.
    real.catch(() => {})
    return Promise.race([real, early]).then(
      () => {
        this.connecting.delete(c)
        if (onLog) c.removeListener('event.log', onLog)
        forgetMetadata(c)
      },
      (e) => {
        // Left in `connecting`: the abandoned client may log its failure again until it is gone.
        if (onLog) c.removeListener('event.log', onLog)
        if (e instanceof EarlyConnectError) real.then(disconnect, () => {})
        throw e
      },
    )
  }

  /** Logs a background client error at most every 30 s per message (librdkafka repeats them per retry). */
  report(level: 'warn' | 'error', message: string): void {
    const now = Date.now()
    const last = this.lastLogged.get(message) ?? 0
    if (now - last < 30_000) return
    this.lastLogged.set(message, now)
    if (level === 'error') this.log?.error(message)
    else this.log?.warn(message)
  }

  /** Turns a librdkafka error into a one-line BrokerError that says whether retrying can help. */
  error(what: string, e: unknown): BrokerError {
    if (e instanceof BrokerError) return e
    const code = errorCode(e)
    const msg = tidy(e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e))
    if (
      (code !== undefined && AUTH.has(code)) ||
      (code !== undefined && UNREACHABLE.has(code) && this.authError)
    )
      return new BrokerError(
        `${what}: Kafka at ${this.bootstrap} refused the credentials (${this.authError ?? msg}); check brokerOptions sasl.*/ssl.*`,
        false,
        { cause: e },
      )
    if (code !== undefined && UNREACHABLE.has(code))
      return new BrokerError(`${what}: Kafka at ${this.bootstrap} is unreachable (${msg})`, true, {
        cause: e,
      })
    const fatal = (e as { isFatal?: boolean }).isFatal === true
    const retriable = !fatal && (e as { isRetriable?: boolean }).isRetriable === true
    return new BrokerError(`${what}: ${msg}${code !== undefined ? ` (code ${code})` : ''}`, retriable, {
      cause: e,
    })
  }
}

/** Calls a callback-style librdkafka function and turns its result into a promise. */
export function call<T = void>(fn: (cb: (err: unknown, result?: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      fn((err, result) => (err ? reject(err) : resolve(result as T)))
    } catch (e) {
      reject(e)
    }
  })
}

/**
 * Empty, but not null: the binding passes an empty Buffer's data pointer on,
 * and that of a Buffer over no memory is null, which librdkafka writes as a
 * null key or value (an empty value became a tombstone). A zero-length view
 * into real memory has a pointer.
 */
const EMPTY = Buffer.alloc(1).subarray(0, 0)

/** A record's key/value as a Buffer without copying (librdkafka wants Buffers). */
export const toBuffer = (u: Uint8Array | null): Buffer | null =>
  u === null
    ? null
    : u.byteLength === 0
      ? EMPTY
      : Buffer.isBuffer(u)
        ? u
        : Buffer.from(u.buffer, u.byteOffset, u.byteLength)

/** Parses kafka://host:port[,host:port] into a librdkafka bootstrap list. */
export function parseKafkaUrl(url: string): string {
  const m = /^kafka:\/\/([^/?#]+)\/?$/.exec(url.trim())
  const hosts = m?.[1]?.split(',').map((h) => h.trim())
  if (!hosts?.length || hosts.some((h) => !/^[^:\s]+:\d{1,5}$/.test(h)))
    throw new BrokerError(
      `invalid Kafka URL ${JSON.stringify(url)} (expected kafka://host:port[,host:port])`,
      false,
    )
  return hosts.join(',')
}

/** Most records have none (NO_HEADERS): nothing to allocate or enumerate for them. */
export const toHeaders = (r: ProduceRecord): MessageHeader[] | undefined => {
  const h = r.headers
  if (h === undefined || h === NO_HEADERS) return undefined
  let out: MessageHeader[] | undefined
  for (const k in h) (out ??= []).push({ [k]: toBuffer(h[k]!)! })
  return out
}

/** Hands one record to librdkafka; false when its queue is full (try again shortly), throws on other errors. */
export function produceOne(p: RdProducer, r: ProduceRecord): boolean {
  try {
    p.produce(r.topic, r.partition, toBuffer(r.value), toBuffer(r.key), r.timestamp, undefined, toHeaders(r))
    return true
  } catch (e) {
    if (errorCode(e) === Code.QUEUE_FULL) return false
    throw e
  }
}

/**
 * Lets go of the metadata the binding keeps from a client's last metadata call.
 * Its connect asks for the metadata of every topic of the cluster (librdkafka
 * does so when the client knows no topic yet, even with `allTopics: false`),
 * and the binding keeps the answer on the client for the client's life: on a
 * cluster of 4,000 topics, ~155k objects per client, which every full garbage
 * collection of a worker then marks again. Nothing reads it after the call.
 */
export function forgetMetadata(client: object): void {
  ;(client as { _metadata?: unknown })._metadata = {}
}

/** A metadata request whose answer the binding does not keep on the client (see forgetMetadata). */
export async function metadata(
  client: RdProducer,
  options: { topic?: string; allTopics?: boolean; timeout: number },
): Promise<{ brokers: unknown[] }> {
  try {
    return await call<{ brokers: unknown[] }>((cb) => client.getMetadata(options, cb))
  } finally {
    forgetMetadata(client)
  }
}
