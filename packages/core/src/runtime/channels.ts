/**
 * Channels at run time (issue 23; Faust's app.channel()): each agent reading a
 * channel has its own bounded queue of it, and `ctx.channels.<name>.send`
 * hands the value to every reader, waiting while any reader's queue is full
 * (backpressure). Values are checked against the channel's schemas at the
 * sender, where the mistake is; they are never encoded, never leave the
 * process and are not committed: a worker that stops loses what is queued.
 */
import * as Schema from 'effect/Schema'
import type { AnySchema } from '../definition/codec.ts'
import type { ChannelDef } from '../definition/definition.ts'
import { ConfigError, EncodeError, messageOf, StoppedError } from '../definition/errors.ts'
import type { ChannelHandle } from '../definition/types.ts'
import { ChannelQueue } from './internal/channel-queue.ts'
import type { Timekeeper } from './time.ts'

class ChannelRuntime {
  readonly readers: ChannelQueue[] = []
  private offset = 0
  private readonly checkValue: (v: unknown) => unknown
  private readonly checkKey: (k: unknown) => unknown

  constructor(
    readonly def: ChannelDef,
    readonly capacity: number,
  ) {
    this.checkValue = Schema.encodeUnknownSync(def.valueSchema as AnySchema)
    this.checkKey = Schema.encodeUnknownSync(def.keySchema as AnySchema)
  }

  async send(value: unknown, key: unknown, now: number): Promise<void> {
    const name = this.def.name
    try {
      this.checkValue(value)
      if (key !== undefined && key !== null) this.checkKey(key)
    } catch (e) {
      throw new EncodeError(`channel '${name}': the value does not match its schema: ${messageOf(e)}`)
    }
    if (this.readers.length === 0)
      throw new ConfigError(`channel '${name}': no agent reads it (declare one with from: '${name}')`)
    for (const q of this.readers) while (q.full && !q.closed) await q.room()
    if (this.readers.some((q) => q.closed))
      throw new StoppedError(`send to channel '${name}': the worker is stopped`)
    const offset = this.offset++
    for (const q of this.readers) q.push(offset, now, key ?? null, value)
  }
}

export class Channels {
  private readonly byName = new Map<string, ChannelRuntime>()
  readonly handles: Record<string, ChannelHandle<unknown, unknown>> = {}

  constructor(
    defs: Readonly<Record<string, ChannelDef>> | undefined,
    defaultCapacity: number,
    private readonly time: Timekeeper,
    ensureRunning: (what: string) => void,
  ) {
    for (const d of Object.values(defs ?? {})) {
      const c = new ChannelRuntime(d, d.maxsize ?? defaultCapacity)
      this.byName.set(d.name, c)
      this.handles[d.name] = Object.freeze({
        name: d.name,
        send: (value: unknown, o?: { readonly key?: unknown }) => {
          ensureRunning(`send to channel '${d.name}'`)
          return c.send(value, o?.key, this.time.now())
        },
      })
    }
  }

  /** A new reader's queue (one per reading agent: every reader gets every value). */
  reader(channel: string): ChannelQueue {
    const c = this.byName.get(channel)
    if (!c) throw new ConfigError(`channel '${channel}' is not declared`)
    const q = new ChannelQueue(channel, c.capacity)
    c.readers.push(q)
    return q
  }
}
