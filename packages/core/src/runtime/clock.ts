/**
 * The live clock (wall time, setTimeout) and the test clock (virtual time that
 * moves only when told to). Everything time-driven in the runtime takes a Clock.
 */
import type { Clock } from '../ports/index.ts'

export const liveClock: Clock = {
  now: () => Date.now(),
  schedule(at, fn) {
    // setTimeout caps at 2^31-1 ms; re-arm for far-away times (cron once a year).
    let handle: NodeJS.Timeout | undefined
    let cancelled = false
    const arm = () => {
      const delay = Math.max(0, at - Date.now())
      handle = setTimeout(
        () => {
          if (cancelled) return
          if (Date.now() < at) return arm()
          void Promise.resolve()
            .then(fn)
            .catch(() => {})
        },
        Math.min(delay, 2_000_000_000),
      )
    }
    arm()
    return () => {
      cancelled = true
      if (handle) clearTimeout(handle)
    }
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

interface Pending {
  readonly at: number
  readonly seq: number
  readonly fn: () => void | Promise<void>
  cancelled: boolean
}

/**
 * Virtual time. `advance(ms)` runs every callback that falls due, in time order,
 * awaiting each (and `settle` after each) before moving on, so when it returns
 * everything that time made due has run.
 */
export class TestClock implements Clock {
  private current: number
  private seq = 0
  private queue: Pending[] = []

  constructor(
    start: number,
    private settle: () => Promise<void> = async () => {},
  ) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  schedule(at: number, fn: () => void | Promise<void>): () => void {
    const p: Pending = { at, seq: this.seq++, fn, cancelled: false }
    this.queue.push(p)
    return () => {
      p.cancelled = true
    }
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.schedule(this.current + ms, resolve)
    })
  }

  /** Sets what runs after each due callback (the worker's idle()). */
  setSettle(settle: () => Promise<void>): void {
    this.settle = settle
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms
    await this.settle()
    for (;;) {
      const next = this.popDue(target)
      if (next === undefined) break
      if (next.at > this.current) this.current = next.at
      try {
        await next.fn()
      } catch {
        // callbacks log their own failures; a failing one must not stop time
      }
      await this.settle()
    }
    this.current = target
    await this.settle()
  }

  private popDue(target: number): Pending | undefined {
    this.queue = this.queue.filter((p) => !p.cancelled)
    let best: Pending | undefined
    for (const p of this.queue) {
      if (p.at <= target && (best === undefined || p.at < best.at || (p.at === best.at && p.seq < best.seq)))
        best = p
    }
    if (best) this.queue.splice(this.queue.indexOf(best), 1)
    return best
  }
}
