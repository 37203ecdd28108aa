/**
 * Looking at a running worker from outside: idle() (everything sent so far
 * processed, nothing in flight — waiting on the worker's activity signal, not
 * polling), and records decoded for reading (t.sent(), the CLI).
 */
import type { Duration } from '../definition/duration.ts'
import { toMillis } from '../definition/duration.ts'
import { IdleTimeoutError } from '../definition/errors.ts'
import type { Broker, BrokerRecord, GroupConsumer } from '../ports/index.ts'
import { tpKey } from '../ports/topic-partitions.ts'
import type { Assignment } from './assignment.ts'
import type { Activity } from './internal/activity.ts'
import type { AgentRunner } from './internal/instance.ts'
import type { Outbox } from './internal/outbox.ts'
import type { TopicRuntime } from './internal/topics.ts'
import type { Runs } from './schedule.ts'

export interface IdleDeps {
  readonly broker: Broker
  readonly consumer: () => GroupConsumer
  readonly assignment: Assignment
  readonly agents: ReadonlyMap<string, AgentRunner>
  readonly outbox: Outbox
  readonly runs: Runs
  readonly activity: Activity
  readonly stopped: () => boolean
  /** Why the worker stopped itself, if it did. */
  readonly failure?: () => Error | undefined
  /** Asks for a commit now (exactly-once: held records become visible only when committed). */
  readonly commitSoon: () => void
  /**
   * The test clock's advance() settling: an agent waiting out a restart backoff waits for the
   * clock, like a timer, and is quiet until advance() makes its restart due.
   */
  readonly backoffIsQuiet?: boolean
}

const records = (n: number): string => (n === 1 ? '1 record' : `${n} records`)

/** What is still to happen without new input (for idle()'s timeout message), or undefined. */
function busy(d: IdleDeps): string | undefined {
  const { outbox } = d
  if (outbox.held > 0) {
    d.commitSoon()
    return 'sends held for the next commit'
  }
  if (outbox.pending > 0) {
    // Someone waits for it all to land: written records need not wait for the producer's own sync.
    outbox.sync()
    return 'sends in flight'
  }
  if (d.runs.active > 0) return 'timer or cron runs in progress'
  for (const a of d.agents.values()) {
    const name = a.def.name
    if (!a.quiet) return `agent '${name}' is inside its handler`
    // An agent restarting after a crash takes its buffered input once its backoff is over.
    if (a.restarting && a.buffered > 0 && d.backoffIsQuiet !== true)
      return `agent '${name}' waits out its restart backoff after a crash (${a.lastCrash ?? 'unknown error'}) with ${records(a.buffered)} buffered; under app.test() t.advance() moves it`
    if (a.consuming && a.buffered > 0) return `agent '${name}' has ${records(a.buffered)} buffered`
  }
  return undefined
}

/** Every assigned source partition is fetched to its end. */
async function caughtUp(d: IdleDeps): Promise<boolean> {
  const tps = d.assignment.sourcePartitions()
  if (!tps.length) return true
  const ends = await d.broker.endOffsets(tps)
  const consumer = d.consumer()
  return ends.every((e) => {
    const fetched = d.assignment.positions.get(tpKey(e.topic, e.partition)) ?? 0
    return Math.max(fetched, consumer.position?.(e) ?? 0) >= e.offset
  })
}

/** A check that misses a signal still comes round this often. */
const RECHECK_MS = 100

/** Resolves when everything sent so far has been processed; IdleTimeoutError after `timeout`. */
export async function idle(d: IdleDeps, options: { timeout?: Duration } = {}): Promise<void> {
  const timeoutMs = toMillis(options.timeout ?? '30s', 'idle timeout')
  const deadline = Date.now() + timeoutMs
  let stable = 0
  while (stable < 2) {
    if (d.stopped()) {
      // A worker that stopped itself (a crash under supervisor 'crash') did not process it all: say why.
      if (d.failure?.()) throw d.failure()
      return
    }
    const seen = d.activity.current
    let why = busy(d)
    if (why === undefined && !(await caughtUp(d))) why = 'source partitions not yet fetched to their end'
    why ??= busy(d)
    const quiet = why === undefined
    if (!quiet && Date.now() > deadline)
      throw new IdleTimeoutError(`idle(): still busy after ${timeoutMs}ms: ${why}`)
    if (quiet) {
      // Quiet twice in a row, one turn of the event loop apart.
      stable++
      await new Promise((r) => setImmediate(r))
      continue
    }
    stable = 0
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      d.activity.changedSince(seen),
      new Promise((r) => {
        timer = setTimeout(r, RECHECK_MS)
      }),
    ])
    clearTimeout(timer)
  }
}

/**
 * A record decoded for reading. A topic the app does not declare (a
 * dead-letter topic, a changelog) holds raw bytes: they come back as Buffers.
 */
export function decodeRecord(t: TopicRuntime | undefined, topic: string, rec: BrokerRecord) {
  const parse = (fn: () => unknown, raw: () => unknown) => {
    try {
      return fn()
    } catch {
      return raw()
    }
  }
  const bytes = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b))
  return {
    key: t
      ? parse(
          () => t.keySerde.decode(rec.key),
          () => t.keySerde.parse(rec.key),
        )
      : bytes(rec.key),
    value: t
      ? parse(
          () => t.valueSerde.decode(rec.value),
          () =>
            parse(
              () => t.valueSerde.parse(rec.value),
              () => bytes(rec.value),
            ),
        )
      : bytes(rec.value),
    topic,
    partition: rec.partition,
    offset: rec.offset,
    timestamp: rec.timestamp,
    headers: Object.fromEntries(
      Object.entries(rec.headers).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]),
    ),
  }
}
