/**
 * What the conformance cases share: the adapter's declaration, unique names
 * (Kafka keeps topics and groups across runs), records built fresh for every
 * send (an adapter may take a sent record over as its metadata), and waiting
 * for conditions with generous deadlines that print the state they saw.
 */
import { expect } from 'vitest'
import type { Failure } from '../../src/definition/errors.ts'
import { isPortFailure, type PortName } from '../../src/ports/failures.ts'
import type {
  Broker,
  BrokerRecord,
  FetchOptions,
  ProduceRecord,
  RecordBatch,
  Store,
  TopicPartition,
} from '../../src/ports/index.ts'

/** How an adapter takes part in the broker suite; what it lacks is declared, and those cases are not registered. */
export interface BrokerConformanceOptions {
  /** The broker the cases share (opened once per suite, closed after it). */
  readonly open: () => Promise<Broker>
  /**
   * Another handle on the same broker data, as a second process would open
   * it: a group's members run on separate handles. Returning the shared
   * broker itself is fine (memory://); the suite closes only other handles.
   */
  readonly peer: () => Promise<Broker>
  /** `transactionalProducer()` is offered (Kafka). */
  readonly transactions: boolean
  /** `atomic` is offered (sqlite://: the log is a local database). */
  readonly atomic: boolean
  /**
   * Opens a broker nobody serves (Kafka: an address nobody listens on); it must
   * fail with a BrokerError of one line, not hang. Absent where no outage can happen.
   */
  readonly unreachable?: () => Promise<Broker>
}

/** What the broker cases get: the shared broker, a peer handle, and cleanup after each case. */
export interface SuiteContext {
  readonly options: BrokerConformanceOptions
  broker(): Broker
  peer(): Promise<Broker>
  /** Closes `c` after the case (closing twice must be harmless on every adapter). */
  track<T extends { close(): Promise<void> }>(c: T): T
  onCleanup(fn: () => unknown): void
}

/** How a store takes part in the store suite. */
export interface StoreConformanceOptions {
  /** A new, empty store; `reopen` opens its data again (absent for a store that keeps nothing). */
  readonly create: () => { readonly store: Store; readonly reopen?: () => Store }
  /** Whether the store keeps its data across reopening (its `durable` flag must say the same). */
  readonly durable: boolean
  /** A closed store refuses reads and writes (memory:// keeps working: closing it frees nothing). */
  readonly refusesWhenClosed?: boolean
}

let n = 0
/** A topic or group name no other case, suite or earlier run uses. */
export const uniq = (prefix: string): string =>
  `cf-${prefix}-${Date.now().toString(36)}-${process.pid}-${(n++).toString(36)}`

export const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8')
export const text = (u: Uint8Array | null): string | null =>
  u === null ? null : Buffer.from(u).toString('utf8')

export const key = (tp: TopicPartition): string => `${tp.topic}:${tp.partition}`
export const keys = (tps: readonly TopicPartition[]): string[] => tps.map(key).sort()

/** Recent event times: a broker deletes records older than a topic's retention (7 days by default). */
const RECENT = Date.now() - 3_600_000

/** `n` records of one partition whose values are `${prefix}${i}`, made fresh for each send. */
export const records = (topic: string, partition: number, n: number, prefix = 'v'): ProduceRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    topic,
    partition,
    key: bytes(`k${i}`),
    value: bytes(`${prefix}${i}`),
    timestamp: RECENT + i,
  }))

/** Sends `n` records to each partition of a topic. */
export async function fill(broker: Broker, topic: string, partitions: number, n: number, prefix = 'v') {
  for (let p = 0; p < partitions; p++) await broker.producer().send(records(topic, p, n, `${prefix}${p}-`))
}

/** Waits until `fn` holds, or fails after `timeoutMs` saying what it waited for and what it saw. */
export async function eventually(
  fn: () => boolean | Promise<boolean>,
  what: string,
  state: () => unknown = () => undefined,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; state: ${JSON.stringify(state())}`,
      )
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Fetches until `count` records arrived (fails after timeoutMs with what came). */
export async function drain(
  source: { fetch(o: FetchOptions): Promise<RecordBatch[]> },
  count: number,
  timeoutMs = 30_000,
): Promise<BrokerRecord[]> {
  const out: BrokerRecord[] = []
  const deadline = Date.now() + timeoutMs
  while (out.length < count) {
    if (Date.now() > deadline)
      throw new Error(
        `got ${out.length} of ${count} records within ${timeoutMs} ms: ${out.map((r) => `${r.topic}:${r.partition}@${r.offset}`).join(' ')}`,
      )
    for (const b of await source.fetch({ maxRecords: 1000, maxWaitMs: 200 })) out.push(...b.records)
  }
  return out
}

/**
 * Asserts the port's contract on a failure it provoked: a member of the port's
 * failure union (ports/failures.ts) with the expected tag and a one-line message.
 */
export function expectFailure(e: unknown, port: PortName, tag: Failure['_tag']): void {
  expect(isPortFailure(port, e), `a member of the ${port} failure union: ${String(e)}`).toBe(true)
  expect((e as Failure)._tag).toBe(tag)
  expect((e as Failure).message).not.toContain('\n')
}

/** What a call failed with, thrown or rejected (undefined if it succeeded). */
export const failureOf = async (fn: () => unknown): Promise<unknown> => {
  try {
    await fn()
    return undefined
  } catch (e) {
    return e
  }
}

/** Settles to the promise's outcome, or to 'timeout' after ms (a call that must not hang). */
export function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

/** Calls `fn` once the current fetch has begun waiting (a macrotask later). */
export const soon = (fn: () => void): void => {
  setTimeout(fn, 50)
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
