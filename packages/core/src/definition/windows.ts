/**
 * Window definitions for windowed tables. Windows are aligned to the epoch
 * (a 1m tumbling window starts on a whole minute); `end` is exclusive.
 *
 * @example
 * app.table('per-minute', { default: () => 0, window: tumbling('1m', { expires: '1h' }) })
 */
import { type Duration, toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'

export interface WindowOptions {
  /** Windows whose end is older than this (relative to the clock) are dropped. */
  readonly expires?: Duration
  /**
   * How long after its end a window still takes late events, in stream time
   * (the newest event time seen in the partition). Set, it closes windows: an
   * event for closed windows only is late (the table's onLate), and a table
   * with `final` emits each window once it closes. Unset: windows never close.
   */
  readonly grace?: Duration
}

export interface WindowRange {
  readonly start: number
  readonly end: number
}

export interface WindowSpec {
  readonly kind: 'tumbling' | 'hopping' | 'sliding' | 'session'
  readonly sizeMs: number
  readonly stepMs: number
  readonly beforeMs: number
  readonly afterMs: number
  /** undefined: never expire */
  readonly expiresMs: number | undefined
  /** Every window containing ts, oldest first. */
  ranges(ts: number): WindowRange[]
  /** The window reads of `current`/`now`/`delta` use: the newest window containing ts. */
  current(ts: number): WindowRange
  /** See WindowOptions.grace; undefined: windows never close. */
  readonly graceMs?: number
  /** Session windows: the gap that closes a session, and how two sessions' values merge. */
  readonly gapMs?: number
  readonly merge?: (a: unknown, b: unknown) => unknown
}

export interface SessionOptions<V> extends WindowOptions {
  /**
   * Combines the values of two sessions an event brings together (the older
   * first), e.g. `(a, b) => a + b` for counts.
   */
  readonly merge: (older: V, newer: V) => V
}

/**
 * Session windows: a key's events closer than `gap` to each other share a
 * window, from its first event to its last plus `gap` (end exclusive). An event
 * that falls within `gap` of two sessions merges them (values by `merge`).
 * Reads for time t answer the session containing t.
 */
export function session<V>(gap: Duration, options: SessionOptions<V>): WindowSpec {
  const gapMs = positive(gap, 'session window gap')
  if (typeof options?.merge !== 'function')
    throw new ConfigError("session window: merge must be a function combining two sessions' values")
  const range = (ts: number): WindowRange => ({ start: ts, end: ts + gapMs })
  return Object.freeze({
    kind: 'session' as const,
    sizeMs: gapMs,
    stepMs: gapMs,
    beforeMs: 0,
    afterMs: 0,
    expiresMs: expiry(options, 'session window'),
    ...graceOf(options, 'session window'),
    gapMs,
    merge: options.merge as (a: unknown, b: unknown) => unknown,
    ranges: (ts: number) => [range(ts)],
    current: range,
  })
}

const positive = (d: Duration, what: string): number => {
  const ms = toMillis(d, what)
  if (ms <= 0) throw new ConfigError(`${what}: must be greater than 0`)
  return ms
}

const expiry = (o: WindowOptions | undefined, what: string): number | undefined =>
  o?.expires === undefined ? undefined : toMillis(o.expires, `${what} expires`)

const graceOf = (o: WindowOptions | undefined, what: string): { graceMs?: number } =>
  o?.grace === undefined ? {} : { graceMs: toMillis(o.grace, `${what} grace`) }

/** Fixed-size, non-overlapping windows. */
export function tumbling(size: Duration, options?: WindowOptions): WindowSpec {
  return hoppingSpec(
    'tumbling',
    positive(size, 'tumbling window size'),
    undefined,
    expiry(options, 'tumbling window'),
    graceOf(options, 'tumbling window'),
  )
}

/** Fixed-size windows that start every `step`, overlapping when step < size. */
export function hopping(size: Duration, step: Duration, options?: WindowOptions): WindowSpec {
  const sizeMs = positive(size, 'hopping window size')
  const stepMs = positive(step, 'hopping window step')
  if (stepMs > sizeMs)
    throw new ConfigError(`hopping window: step (${stepMs}ms) must not exceed size (${sizeMs}ms)`)
  return hoppingSpec(
    'hopping',
    sizeMs,
    stepMs,
    expiry(options, 'hopping window'),
    graceOf(options, 'hopping window'),
  )
}

/**
 * One window per event: [ts - before, ts + after], as Faust's SlidingWindow.
 * Reads for time t look at the window centred on t.
 */
export function sliding(before: Duration, after: Duration, options?: WindowOptions): WindowSpec {
  const beforeMs = toMillis(before, 'sliding window before')
  const afterMs = toMillis(after, 'sliding window after')
  const expiresMs = expiry(options, 'sliding window')
  const range = (ts: number): WindowRange => ({ start: ts - beforeMs, end: ts + afterMs + 1 })
  return Object.freeze({
    kind: 'sliding' as const,
    sizeMs: beforeMs + afterMs + 1,
    stepMs: 1,
    beforeMs,
    afterMs,
    expiresMs,
    ...graceOf(options, 'sliding window'),
    ranges: (ts: number) => [range(ts)],
    current: range,
  })
}

function hoppingSpec(
  kind: 'tumbling' | 'hopping',
  sizeMs: number,
  step: number | undefined,
  expiresMs: number | undefined,
  grace: { graceMs?: number },
): WindowSpec {
  const stepMs = step ?? sizeMs
  const ranges = (ts: number): WindowRange[] => {
    const out: WindowRange[] = []
    const newest = Math.floor(ts / stepMs) * stepMs
    for (let start = newest - Math.floor((sizeMs - 1) / stepMs) * stepMs; start <= newest; start += stepMs) {
      if (start + sizeMs > ts) out.push({ start, end: start + sizeMs })
    }
    return out
  }
  const current = (ts: number): WindowRange => {
    const start = Math.floor(ts / stepMs) * stepMs
    return { start, end: start + sizeMs }
  }
  return Object.freeze({
    kind,
    sizeMs,
    stepMs,
    beforeMs: 0,
    afterMs: 0,
    expiresMs,
    ...grace,
    ranges,
    current,
  })
}
