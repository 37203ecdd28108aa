/**
 * What a reader of a stream holds: the record it is working on (the "current
 * event" that windowed tables and replies refer to) and the records it pulled
 * for the value in hand, acknowledged when it asks for the next one.
 */
import type { BrokerRecord } from '../../ports/index.ts'
import type { TraceSpan } from '../../ports/tracing.ts'
import type { AckTracker } from './acks.ts'

export interface Item {
  readonly rec: BrokerRecord
  readonly key: unknown
  readonly value: unknown
  /** Itself: lets a source item double as a stream element without an allocation. */
  readonly item: Item
  readonly tracker: AckTracker | undefined
  acked: boolean
  replied: boolean
}

const UNDECODED: unique symbol = Symbol('undecoded')

/**
 * A record taken from a source queue. It doubles as its own stream element
 * (`item`, `value`), and a key that cannot fail to decode (see
 * TopicRuntime.lazyKeys) is decoded on first read: a passthrough never reads it.
 */
export class SourceItem implements Item {
  acked = false
  replied = false
  private k: unknown

  constructor(
    readonly rec: BrokerRecord,
    key: unknown,
    readonly value: unknown,
    readonly tracker: AckTracker,
    private readonly decodeKey: ((bytes: Uint8Array) => unknown) | undefined,
  ) {
    this.k = decodeKey === undefined ? key : UNDECODED
  }

  get item(): Item {
    return this
  }

  get key(): unknown {
    if (this.k === UNDECODED) this.k = this.decodeKey!(this.rec.key!)
    return this.k
  }
}

export interface Cursor {
  current: Item | undefined
  inflight: Item[]
  /** With telemetry on: the span of the handler's work on `current` (what it sends is traced under it). */
  span: TraceSpan | undefined
}

export const newCursor = (): Cursor => ({ current: undefined, inflight: [], span: undefined })

export function ackItem(item: Item): void {
  if (item.acked) return
  item.acked = true
  item.tracker?.ack(item.rec.offset)
}

export function ackInflight(cursor: Cursor): void {
  const list = cursor.inflight
  if (list.length === 0) return
  for (let i = 0; i < list.length; i++) ackItem(list[i]!)
  // pop(), not `length = 0`: that frees the array's storage and the next push allocates ~150 bytes.
  while (list.length > 0) list.pop()
}
