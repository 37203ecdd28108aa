/**
 * What an agent's stream pulls from (AgentQueue: a source queue of fetched
 * batches, or a channel's queue), and the channel's own: a bounded FIFO of
 * values handed over in process. Its items carry no offset tracker: a channel
 * is not durable, nothing of it is committed.
 */
import { type BrokerRecord, NO_HEADERS } from '../../ports/index.ts'
import type { Item } from './cursor.ts'

/** The reading side an agent's instances share. */
export interface AgentQueue {
  /** The next value, or undefined when none is buffered. */
  take(): Item | undefined
  /** Resolves when data arrives or the queue closes. */
  wait(): Promise<void>
  readonly closed: boolean
  /** Values buffered. */
  readonly size: number
  /** Values taken. */
  readonly consumed: number
  wakeAll(): void
  close(): void
}

/** A value sent to a channel, as a stream element (partition 0; offsets count sends). */
class ChannelItem implements Item {
  acked = false
  replied = false
  readonly rec: BrokerRecord
  constructor(
    channel: string,
    offset: number,
    timestamp: number,
    readonly key: unknown,
    readonly value: unknown,
  ) {
    this.rec = {
      topic: channel,
      partition: 0,
      offset,
      timestamp,
      key: null,
      value: null,
      headers: NO_HEADERS,
    }
  }
  get item(): Item {
    return this
  }
  get tracker(): undefined {
    return undefined
  }
}

export class ChannelQueue implements AgentQueue {
  private items: ChannelItem[] = []
  private head = 0
  consumed = 0
  closed = false
  private waiters: (() => void)[] = []
  private roomWaiters: (() => void)[] = []

  constructor(
    readonly channel: string,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.items.length - this.head
  }

  get full(): boolean {
    return this.size >= this.capacity
  }

  push(offset: number, timestamp: number, key: unknown, value: unknown): void {
    if (this.closed) return
    this.items.push(new ChannelItem(this.channel, offset, timestamp, key, value))
    this.wakeAll()
  }

  take(): Item | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head++]!
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    this.consumed++
    if (this.roomWaiters.length && !this.full) {
      const w = this.roomWaiters
      this.roomWaiters = []
      for (const f of w) f()
    }
    return item
  }

  wait(): Promise<void> {
    if (this.closed || this.size > 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Resolves when a value fits (or the queue closed: the send then fails). */
  room(): Promise<void> {
    if (!this.full || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.roomWaiters.push(resolve))
  }

  wakeAll(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  close(): void {
    this.closed = true
    this.wakeAll()
    const r = this.roomWaiters
    this.roomWaiters = []
    for (const f of r) f()
  }
}
