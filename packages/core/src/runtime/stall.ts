/**
 * stallTimeout (issue 23): a handler that holds one record longer than the
 * timeout is reported — logged once with the agent, topic, partition, offset
 * and how long, counted for /metrics, and listed by /health (status
 * 'stalled') until it lets go. Nothing is killed: a slow call may finish.
 * Sampling on the worker's Effect clock (a scan every quarter of the timeout)
 * keeps the hot path untouched: the scan only reads each instance's phase
 * and the record in its cursor.
 */
import * as Duration from 'effect/Duration'
import * as Effect from 'effect/Effect'
import type { Logger } from '../definition/types.ts'
import type { StallInfo } from '../ports/sensor.ts'
import type { Item } from './internal/cursor.ts'
import type { AgentRunner, Instance } from './internal/instance.ts'
import type { Timekeeper } from './time.ts'

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`

interface Held {
  readonly item: Item
  readonly since: number
  reported: boolean
}

export class StallWatch {
  private readonly held = new Map<Instance, Held>()
  /** Stalls reported since start, per agent. */
  readonly counts = new Map<string, number>()

  constructor(
    private readonly d: {
      /** The agents' runners (filled as the worker builds them). */
      readonly runners: ReadonlyMap<string, AgentRunner>
      readonly timeoutMs: number
      readonly time: Timekeeper
      readonly log: Logger
    },
  ) {}

  /** One look at every instance: notes what each holds, reports what it has held too long. */
  scan(): void {
    const now = this.d.time.now()
    const seen = new Set<Instance>()
    for (const r of this.d.runners.values())
      for (const inst of r.instances) {
        const item = inst.phase === 'busy' ? inst.cursor.current : undefined
        if (item === undefined) continue
        seen.add(inst)
        let h = this.held.get(inst)
        if (h === undefined || h.item !== item) {
          h = { item, since: now, reported: false }
          this.held.set(inst, h)
        }
        if (!h.reported && now - h.since >= this.d.timeoutMs) {
          h.reported = true
          this.counts.set(inst.agent, (this.counts.get(inst.agent) ?? 0) + 1)
          const i = this.info(inst, h, now)
          this.d.log.warn(
            `agent ${inst.name} stalled: holding ${i.topic}[${i.partition}]@${i.offset} for ${secs(i.heldMs)} (stallTimeout ${this.d.timeoutMs}ms)`,
            { ...i },
          )
        }
      }
    for (const [inst, h] of this.held)
      if (!seen.has(inst) || h.item !== inst.cursor.current) {
        if (h.reported)
          this.d.log.info(
            `agent ${inst.name} resumed: let go of ${h.item.rec.topic}[${h.item.rec.partition}]@${h.item.rec.offset} after ${secs(now - h.since)}`,
          )
        this.held.delete(inst)
      }
  }

  /** The records held too long right now. */
  current(): StallInfo[] {
    const now = this.d.time.now()
    return [...this.held].filter(([, h]) => h.reported).map(([inst, h]) => this.info(inst, h, now))
  }

  private info(inst: Instance, h: Held, now: number): StallInfo {
    const rec = h.item.rec
    return {
      agent: inst.agent,
      instance: inst.name,
      topic: rec.topic,
      partition: rec.partition,
      offset: rec.offset,
      heldMs: now - h.since,
    }
  }

  /** Scans on the worker's clock (the TestClock under app.test()); never ends. */
  get loop(): Effect.Effect<never> {
    const every = Duration.millis(Math.max(10, Math.min(1_000, Math.floor(this.d.timeoutMs / 4))))
    return Effect.forever(Effect.sleep(every).pipe(Effect.andThen(Effect.sync(() => this.scan()))))
  }
}
