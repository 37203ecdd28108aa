/**
 * Offset bookkeeping for at-least-once: records of a partition are delivered in
 * offset order but may be acknowledged out of order (concurrency > 1). Only the
 * end of the longest acknowledged prefix is committable (Faust's gap-aware
 * `_new_offset`), so nothing unprocessed is ever committed.
 */
export class AckTracker {
  private pending: number[] = []
  private head = 0
  private early = new Set<number>()
  /** Next offset to read: everything before it is processed. -1 until anything is. */
  committable = -1
  /** Highest offset delivered + 1. */
  delivered = -1

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  deliver(offset: number): void {
    this.pending.push(offset)
    this.delivered = offset + 1
  }

  ack(offset: number): void {
    const pending = this.pending
    if (this.head < pending.length && pending[this.head] === offset) {
      this.head++
      this.committable = offset + 1
      while (this.early.size && this.head < pending.length && this.early.delete(pending[this.head]!)) {
        this.committable = pending[this.head]! + 1
        this.head++
      }
      if (this.head > 4096 && this.head * 2 > pending.length) {
        this.pending = pending.slice(this.head)
        this.head = 0
      }
    } else {
      this.early.add(offset)
    }
  }

  /** Records delivered but not yet acknowledged. */
  get inFlight(): number {
    return this.pending.length - this.head
  }
}
