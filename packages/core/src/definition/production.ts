/**
 * The settings a production deployment needs beyond the basics (issue 23,
 * Faust's consumer_auto_offset_reset, topic_allow_declare, canonical_url,
 * loghandlers, stream_buffer_maxsize, consumer_max_poll_records,
 * blocking_timeout; and stall detection, which Faust lacks): their types,
 * their definition-time checks and their resolved defaults, in one place.
 */
import { type Duration, toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'
import type { Logger } from './types.ts'

export interface ProductionConfig {
  /** Where a new consumer group starts on the app's own topics: 'earliest' (default) or 'latest'. */
  readonly autoOffsetReset?: 'earliest' | 'latest'
  /** false: never create topics; missing ones fail the start with one error listing them all. */
  readonly declareTopics?: boolean
  /** The URL other workers reach this one at (table forwarding); default: the web server's own. */
  readonly canonicalUrl?: string
  /** Where logs go (default: stderr lines, or JSON lines with --json-logs). */
  readonly logger?: Logger
  /** A handler holding one record longer than this is reported (default '60s'; 0 turns it off). */
  readonly stallTimeout?: Duration
  /** An event loop blocked longer than this is logged with how long (default: off). */
  readonly blockingTimeout?: Duration
  /** Records buffered per agent before fetching its topics pauses (default 4096, Faust's). */
  readonly streamBufferMaxsize?: number
  /** Records one fetch returns at most, across partitions (default 1000, Kafka Streams' max.poll.records). */
  readonly maxPollRecords?: number
}

/** The production settings with their defaults applied. */
export interface ResolvedProduction {
  readonly autoOffsetReset: 'earliest' | 'latest'
  readonly declareTopics: boolean
  /** 0: off. */
  readonly stallTimeoutMs: number
  /** 0: off. */
  readonly blockingTimeoutMs: number
  readonly streamBufferMaxsize: number
  readonly maxPollRecords: number
}

const fail = (msg: string): never => {
  throw new ConfigError(msg)
}

const positiveInt = (what: string, n: unknown) => {
  if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1))
    fail(`${what} must be a positive integer, got ${JSON.stringify(n)}`)
}

/** Definition-time checks: each bad value is one clear line. */
export function checkProduction(c: ProductionConfig): void {
  if (c.autoOffsetReset !== undefined && c.autoOffsetReset !== 'earliest' && c.autoOffsetReset !== 'latest')
    fail(`autoOffsetReset must be 'earliest' or 'latest', got ${JSON.stringify(c.autoOffsetReset)}`)
  if (c.declareTopics !== undefined && typeof c.declareTopics !== 'boolean')
    fail(`declareTopics must be true or false, got ${JSON.stringify(c.declareTopics)}`)
  if (c.canonicalUrl !== undefined) {
    let ok = typeof c.canonicalUrl === 'string'
    try {
      ok &&= ['http:', 'https:'].includes(new URL(c.canonicalUrl).protocol)
    } catch {
      ok = false
    }
    if (!ok) fail(`canonicalUrl must be an http(s) URL, got ${JSON.stringify(c.canonicalUrl)}`)
  }
  if (c.logger !== undefined) {
    const l = c.logger as unknown as Record<string, unknown> | null
    const missing = ['debug', 'info', 'warn', 'error'].filter((m) => typeof l?.[m] !== 'function')
    if (missing.length)
      fail(`logger must have debug, info, warn and error functions (missing ${missing.join(', ')})`)
  }
  if (c.stallTimeout !== undefined) toMillis(c.stallTimeout, 'stallTimeout')
  if (c.blockingTimeout !== undefined) toMillis(c.blockingTimeout, 'blockingTimeout')
  positiveInt('streamBufferMaxsize', c.streamBufferMaxsize)
  positiveInt('maxPollRecords', c.maxPollRecords)
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000
/**
 * Records wait in these buffers as JS objects. Held longer than V8's young
 * collections are apart (a few thousand records at Kafka rates), they are
 * promoted to the old generation and die there: with 10,000 and 5,000 a Kafka
 * passthrough promoted ~350 bytes per record and ran a full collection every
 * ~40k records; with these, almost nothing is promoted and a worker takes ~20%
 * less CPU per record. librdkafka's own prefetch, outside the JS heap, is where
 * a backlog waits.
 */
export const DEFAULT_STREAM_BUFFER_MAXSIZE = 4096
export const DEFAULT_MAX_POLL_RECORDS = 1000

export function resolveProduction(c: ProductionConfig): ResolvedProduction {
  return {
    autoOffsetReset: c.autoOffsetReset ?? 'earliest',
    declareTopics: c.declareTopics ?? true,
    stallTimeoutMs:
      c.stallTimeout === undefined ? DEFAULT_STALL_TIMEOUT_MS : toMillis(c.stallTimeout, 'stallTimeout'),
    blockingTimeoutMs: c.blockingTimeout === undefined ? 0 : toMillis(c.blockingTimeout, 'blockingTimeout'),
    streamBufferMaxsize: c.streamBufferMaxsize ?? DEFAULT_STREAM_BUFFER_MAXSIZE,
    maxPollRecords: c.maxPollRecords ?? DEFAULT_MAX_POLL_RECORDS,
  }
}
