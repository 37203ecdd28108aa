/**
 * Cron expressions, parsed by Effect's Cron so that the schedule that runs a
 * job is Effect's `Schedule.cron` on the worker's clock. Five fields (minute
 * first) or six (seconds first), names for months and weekdays, ranges, lists
 * and steps, in an IANA time zone. The nicknames (`@daily`, ...) and `?` for
 * "any", which apps wrote when croner parsed them, are rewritten to the fields
 * they stand for; croner's `L`, `W` and `#` have no Effect equivalent and are
 * a definition-time error.
 */
import * as Cron from 'effect/Cron'
import type * as Result from 'effect/Result'

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

/** The fields an expression stands for: a nickname's, and `?` as `*`. */
const expand = (expression: string): string =>
  NICKNAMES[expression.trim().toLowerCase()] ?? expression.replaceAll('?', '*')

/** Parses `expression` in `timezone`; a failure carries a one-line message. */
export const parseCron = (
  expression: string,
  timezone: string,
): Result.Result<Cron.Cron, Cron.CronParseError> => Cron.parse(expand(expression), timezone)
