/**
 * A cumulative latency histogram in the shape Prometheus exposes, cheap enough
 * to observe once per processed value.
 */
/** Cumulative histogram (Prometheus style): counts[i] counts observations <= bounds[i] (seconds). */
export interface Histogram {
  readonly bounds: readonly number[]
  readonly counts: number[]
  sum: number
  count: number
}

export const LATENCY_BOUNDS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]

export const newHistogram = (bounds: readonly number[] = LATENCY_BOUNDS): Histogram => ({
  bounds,
  counts: bounds.map(() => 0),
  sum: 0,
  count: 0,
})

export function observe(h: Histogram, seconds: number): void {
  h.sum += seconds
  h.count++
  const b = h.bounds
  for (let i = 0; i < b.length; i++) if (seconds <= b[i]!) h.counts[i]!++
}
