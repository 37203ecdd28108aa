/**
 * A change signal for whoever waits for the worker to be quiet (idle(), an
 * exactly-once commit waiting for handlers to leave their message): instead of
 * polling, they read the version, check, and wait for the next change. A
 * notify with nobody waiting costs one property read, so the hot path (a
 * handler asking for its next value) can call it per message.
 */
export class Activity {
  private version = 0
  private waiters: (() => void)[] = []
  /** True while someone waits (a field, not a getter: the hot path reads it per message). */
  waiting = false

  /** The current version, to pass to changedSince after a check. */
  get current(): number {
    return this.version
  }

  notify(): void {
    this.version++
    if (this.waiters.length === 0) return
    const w = this.waiters
    this.waiters = []
    this.waiting = false
    for (const f of w) f()
  }

  /** Resolves at the first change after `version` (at once if there was one already). */
  changedSince(version: number): Promise<void> {
    if (version !== this.version) return Promise.resolve()
    this.waiting = true
    return new Promise((resolve) => this.waiters.push(resolve))
  }
}
