import { describe, expect, it } from 'vitest'
import { toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'

describe('durations', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['2.8s', 2800],
    ['30 seconds', 30_000],
    ['1 minute', 60_000],
  ] as const)('%j is %d ms', (input, ms) => {
    expect(toMillis(input)).toBe(ms)
  })

  it.each(['', '5', 'abc', '5 parsecs', '-1s', '1h30'])('rejects %j with a message naming it', (bad) => {
    expect(() => toMillis(bad, "timer 'x' every")).toThrow(ConfigError)
    expect(() => toMillis(bad, "timer 'x' every")).toThrow(/timer 'x' every: invalid duration/)
  })

  it('rejects negative and non-finite numbers', () => {
    expect(() => toMillis(-5)).toThrow(ConfigError)
    expect(() => toMillis(Number.NaN)).toThrow(ConfigError)
  })
})
