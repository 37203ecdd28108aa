/**
 * Durations as API.md defines them: milliseconds as a number, or a string such
 * as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'` (long forms like `'30 seconds'`
 * are accepted too). Parsing happens at definition time so a typo fails early.
 */
import { ConfigError } from './errors.ts'

export type Duration = number | `${number}${DurationUnit}` | `${number} ${DurationUnit}`
type DurationUnit =
  | 'ms'
  | 's'
  | 'm'
  | 'h'
  | 'd'
  | 'millis'
  | 'millisecond'
  | 'milliseconds'
  | 'second'
  | 'seconds'
  | 'minute'
  | 'minutes'
  | 'hour'
  | 'hours'
  | 'day'
  | 'days'
  | 'week'
  | 'weeks'

const UNITS: Record<string, number> = {
  ms: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
}

const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i

/**
 * Turns a {@link Duration} into milliseconds, or throws a ConfigError that names
 * what was being configured.
 *
 * @example
 * toMillis('1m', 'timer report') // 60000
 */
export function toMillis(d: Duration | string, what = 'duration'): number {
  if (typeof d === 'number') {
    if (!Number.isFinite(d) || d < 0)
      throw new ConfigError(`${what}: invalid duration ${d} (expected ms >= 0)`)
    return d
  }
  if (typeof d === 'string') {
    const m = PATTERN.exec(d)
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined
    if (m && unit !== undefined) return Math.round(Number(m[1]) * unit)
  }
  throw new ConfigError(
    `${what}: invalid duration ${JSON.stringify(d)} (expected milliseconds or a string like '250ms', '30s', '5m', '1h', '1d')`,
  )
}
