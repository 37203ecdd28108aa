/**
 * One result line per workload: a readable table by default, JSON lines with
 * --json. Every figure is a ratio against a baseline measured in the same run.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface Result {
  readonly workload: string
  readonly messages: number
  /** messages (or requests) per second of stream-app */
  readonly rate: number
  readonly baseline: string
  readonly baseline_rate: number
  /** rate / baseline_rate */
  readonly ratio: number
  /** the ratio the issue asks for */
  readonly target: number
  readonly rss_mb: number
  /** 'ms' when rate and baseline_rate are durations (lower is better) rather than rates */
  readonly unit?: 'ms'
  readonly [extra: string]: unknown
}

/**
 * A full garbage collection before each measured run, for both sides: what one
 * run left behind (a framework run leaves hundreds of MB of records) is not
 * collected on the next run's time.
 */
export function settle(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

/** The best (highest) rate of several rounds. */
export const best = (xs: readonly number[]): number => Math.max(...xs)

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/**
 * Side-by-side figures of alternating rounds: baseline, run, baseline, run, …,
 * baseline. Each run is paired with the mean of the baseline runs just before
 * and after it (the machine is shared and its speed drifts) and the ratio is
 * the median of those pairs. Keeping the best of each side instead would
 * favour the baseline, whose shorter runs land in a quiet moment more often;
 * that figure is returned too.
 */
export function pairedRatio(
  runs: readonly number[],
  baselines: readonly number[],
): { rate: number; baselineRate: number; ratio: number; paired: number[]; bestOfEach: number } {
  if (baselines.length !== runs.length + 1)
    throw new Error('pairedRatio: a baseline run before and after each run')
  const paired = runs.map((r, i) => r / ((baselines[i]! + baselines[i + 1]!) / 2))
  return {
    rate: median(runs),
    baselineRate: median(baselines),
    ratio: median(paired),
    paired,
    bestOfEach: Math.max(...runs) / Math.max(...baselines),
  }
}

/**
 * Runs alternating rounds — baseline, then `rounds` times a full GC, a
 * stream-app run, a full GC, a baseline run — and returns the measured fields
 * of a Result by pairedRatio (rates in messages per second).
 */
export async function alternatingRounds(
  rounds: number,
  run: () => Promise<number>,
  baseline: () => number,
): Promise<Pick<Result, 'rate' | 'baseline_rate' | 'ratio' | 'rss_mb'> & Record<string, number | string>> {
  settle()
  const base = [baseline()]
  const fw: number[] = []
  let peak = 0
  for (let i = 0; i < rounds; i++) {
    settle()
    fw.push(await run())
    peak = Math.max(peak, rssMb())
    settle()
    base.push(baseline())
  }
  const { rate, baselineRate, ratio, paired, bestOfEach } = pairedRatio(fw, base)
  return {
    rate,
    baseline_rate: baselineRate,
    ratio,
    rss_mb: peak,
    overhead_us_per_msg: (1 / rate - 1 / baselineRate) * 1e6,
    paired_ratios: paired.map((r) => Math.round(r * 1000) / 1000).join(' '),
    ratio_best_of_each: bestOfEach,
  }
}

/**
 * Starts measuring peak RSS afresh (Linux: the kernel's high-water mark of
 * this process, reset to its current RSS), so a run's peak is its own and not
 * what an earlier run in this process reached.
 */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    // not Linux: peakRssMb() then reports the process's peak so far
  }
}

/** Peak RSS (MB) since the last resetPeakRss(); the current RSS where /proc is not available. */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Math.round(Number(m[1]) / 1024)
  } catch {
    // fall through
  }
  return rssMb()
}

export const rssMb = (): number => Math.round(process.memoryUsage().rss / 1024 / 1024)

export function printResult(r: Result, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`)
    return
  }
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const ok = r.ratio >= r.target ? 'meets' : 'BELOW'
  const extra = Object.entries(r)
    .filter(
      ([k]) =>
        ![
          'workload',
          'messages',
          'rate',
          'baseline',
          'baseline_rate',
          'ratio',
          'target',
          'rss_mb',
          'unit',
        ].includes(k),
    )
    .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : v}`)
    .join(' ')
  process.stdout.write(
    [
      `${r.workload}`,
      r.unit === 'ms'
        ? `  stream-app   ${fmt(r.rate)} ms (${fmt(r.messages)} keys)`
        : `  stream-app   ${fmt(r.rate)}/s over ${fmt(r.messages)} messages`,
      r.unit === 'ms'
        ? `  baseline     ${fmt(r.baseline_rate)} ms (${r.baseline})`
        : `  baseline     ${fmt(r.baseline_rate)}/s (${r.baseline})`,
      `  ratio        ${r.ratio.toFixed(3)} (target ${r.target}: ${ok})   peak rss ${r.rss_mb} MB`,
      extra ? `  ${extra}` : '',
      '',
    ]
      .filter((l, i, a) => l !== '' || i === a.length - 1)
      .join('\n'),
  )
}
