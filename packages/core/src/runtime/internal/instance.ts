/**
 * One instance of an agent's handler, on the hot path: it owns the cursor (the
 * record in hand and what it pulled for the value being worked on), drives the
 * handler's async generator, and hands yielded values on. A run ends when the
 * handler returns or throws, or its signal aborts (the supervisor interrupted
 * it): the streams then end at the next pull. Runs of one instance never
 * overlap: a new run waits for the previous one to settle.
 */
import type { AgentDef, TopicDef } from '../../definition/definition.ts'
import type { Logger } from '../../definition/types.ts'
import type { AgentStopped } from '../../ports/sensor.ts'
import type { Tracing } from '../../ports/tracing.ts'
import type { Timekeeper } from '../time.ts'
import type { Activity } from './activity.ts'
import type { AgentQueue } from './channel-queue.ts'
import { ackInflight, type Cursor, type Item, newCursor } from './cursor.ts'
import type { SourceQueue } from './source.ts'
import { type StreamHost, StreamImpl, sourcePull } from './stream.ts'
import type { TopicRuntime } from './topics.ts'

/**
 * What an agent's instances need from the worker: the parts themselves, which
 * the record's path hands data forward to (sinks, ctx, hold-back, sensor), not
 * callbacks into the worker.
 */
export interface AgentHost {
  readonly appId: string
  readonly time: Timekeeper
  readonly log: Logger
  /** Told whenever an instance asks for its next value (idle(), the exactly-once commit wait). */
  readonly activity: Activity
  /** The app's topics by name. */
  readonly topics: { get(name: string): TopicRuntime | undefined }
  /** The agent's queue for a topic (created and subscribed on demand: groupBy, through). */
  subscribe(agent: string, def: TopicDef): Promise<SourceQueue>
  /** Where yielded values (sink sends and replies) and forwards (groupBy, through) go. */
  readonly sinks: {
    emit(agent: AgentDef, value: unknown, cursor: Cursor): void
    forward(agent: string, topic: string, key: unknown, value: unknown, from: Item): void
  }
  /** Makes the ctx handed to the handler. */
  readonly contexts: { make(cursor: Cursor): unknown }
  /** Holds records back: the exactly-once commit gate, else backpressure from the producer. */
  readonly holdBack: { wait(): Promise<void> | undefined }
  /** Latency samples: taken (every 8th value) only while `timing.on`, someone listens. */
  readonly sensor: {
    readonly timing: { readonly on: boolean }
    latency(agent: string, seconds: number): void
  }
  /** Telemetry on: told when the handler takes a record and is done with it. */
  readonly tracing: Tracing | undefined
}

export type Phase = 'busy' | 'pulling' | 'backoff' | 'done'

export class Instance implements StreamHost {
  cursor: Cursor = newCursor()
  aborted = false
  /** busy: in the handler; pulling: waiting for input; backoff: restarting later; done: finished. */
  phase: Phase = 'pulling'
  private tasks: Promise<void>[] = []
  private backgroundFailure: unknown
  private running: Promise<void> = Promise.resolve()
  private handedAt = 0
  private handed = 0
  /** Read per message: kept here rather than reached through the runner and its host. */
  private readonly activity: Activity
  private readonly timing: { readonly on: boolean }
  private readonly tracing: Tracing | undefined
  /** The record the open (or last) span is for: a stream's end hands no new record. */
  private traced: Item | undefined

  constructor(
    readonly runner: AgentRunner,
    readonly index: number,
  ) {
    this.activity = runner.host.activity
    this.timing = runner.host.sensor.timing
    this.tracing = runner.host.tracing
  }

  get time(): Timekeeper {
    return this.runner.host.time
  }
  get appId(): string {
    return this.runner.host.appId
  }
  get gate(): Promise<void> | undefined {
    return this.runner.host.holdBack.wait()
  }
  get agent(): string {
    return this.runner.def.name
  }
  /** `agent` or `agent#index` when it has several instances, for logs and the supervisor's keys. */
  get name(): string {
    return this.runner.instances.length > 1 ? `${this.runner.def.name}#${this.index}` : this.runner.def.name
  }

  setWaiting(w: boolean): void {
    if (this.tracing !== undefined) this.trace(this.tracing, w)
    if (w) {
      // Latency is sampled (every 8th value): a clock read per message is measurable overhead.
      if (this.phase === 'busy' && this.handedAt !== 0) {
        this.runner.host.sensor.latency(this.agent, (performance.now() - this.handedAt) / 1000)
        this.handedAt = 0
      }
      this.phase = 'pulling'
      const activity = this.runner.host.activity
      if (activity.waiting) activity.notify()
    } else {
      this.phase = 'busy'
      if ((++this.handed & 7) === 0 && this.timing.on) this.handedAt = performance.now()
    }
    if (this.backgroundFailure !== undefined && w) {
      const e = this.backgroundFailure
      this.backgroundFailure = undefined
      throw e
    }
  }
  /** Opens a span when the handler takes a new record, closes it when the handler asks for the next. */
  private trace(tracing: Tracing, waiting: boolean, error?: unknown): void {
    const cx = this.cursor
    if (waiting || error !== undefined) {
      if (cx.span !== undefined) tracing.processed(this.agent, cx.span, error)
      cx.span = undefined
      return
    }
    const item = cx.current
    if (item === undefined || item === this.traced || cx.span !== undefined) return
    this.traced = item
    cx.span = tracing.consume(this.agent, item.rec)
  }

  subscribe(def: TopicDef): Promise<SourceQueue> {
    return this.runner.host.subscribe(this.agent, def).then((q) => {
      this.runner.extraQueues.add(q)
      return q
    })
  }
  topic(name: string): TopicRuntime | undefined {
    return this.runner.host.topics.get(name)
  }
  forward(topic: string, key: unknown, value: unknown, from: Item): void {
    this.runner.host.sinks.forward(this.agent, topic, key, value, from)
  }
  background(task: Promise<void>): void {
    const t = task.catch((e) => {
      if (this.aborted) return
      this.backgroundFailure = e
      this.abort()
    })
    this.tasks.push(t)
  }
  abort(): void {
    this.aborted = true
    this.runner.wakeAll()
  }

  /**
   * One run of the handler, until its stream ends, it throws, or `signal`
   * aborts. Waits for the previous run to settle first.
   */
  run(signal: AbortSignal): Promise<void> {
    const previous = this.running
    const run = previous.then(() => this.runOnce(signal))
    this.running = run.then(
      () => {},
      () => {},
    )
    return run
  }

  private async runOnce(signal: AbortSignal): Promise<void> {
    this.cursor = newCursor()
    this.traced = undefined
    this.aborted = signal.aborted
    if (this.aborted) return
    const onAbort = () => this.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    this.phase = 'busy'
    this.tasks = []
    this.backgroundFailure = undefined
    try {
      const { def, queue, host } = this.runner
      const stream = new StreamImpl(this, sourcePull(queue, this), undefined)
      const ctx = host.contexts.make(this.cursor)
      const result = def.handler(stream, ctx)
      if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
        const runner = this.runner
        for await (const out of result as AsyncIterable<unknown>) {
          runner.yielded++
          host.sinks.emit(def, out, this.cursor)
        }
      } else {
        await result
      }
      // The handler returned (or its stream ended): what it pulled is processed.
      ackInflight(this.cursor)
      if (this.backgroundFailure !== undefined) throw this.backgroundFailure
    } catch (e) {
      if (this.tracing !== undefined) this.trace(this.tracing, true, e ?? new Error('handler failed'))
      throw e
    } finally {
      if (this.tracing !== undefined) this.trace(this.tracing, true)
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** Settles when the current run has (for a supervisor that interrupted it and must wait). */
  settled(): Promise<void> {
    return this.running
  }

  /** After a failure: the message that made the handler throw is acknowledged, not redelivered forever. */
  acknowledgeFailed(): void {
    ackInflight(this.cursor)
  }
}

/** An agent at run time: its instances sharing one source queue, and its counters. */
export class AgentRunner {
  readonly instances: Instance[]
  readonly extraQueues = new Set<SourceQueue>()
  restarts = 0
  /** What the last crash said (idle() names it when an instance is still waiting to restart). */
  lastCrash: string | undefined
  /** Values the handler yielded. */
  yielded = 0
  state: 'running' | 'stopped' | 'failed' = 'running'
  /** Why and where the agent stopped by itself (state 'failed'): /health and /agents say so. */
  stoppedBy: AgentStopped | undefined

  constructor(
    readonly def: AgentDef,
    readonly queue: AgentQueue,
    readonly host: AgentHost,
  ) {
    this.instances = Array.from({ length: def.concurrency }, (_, i) => new Instance(this, i))
  }

  /** Messages the handler took from its streams. */
  get consumed(): number {
    let n = this.queue.consumed
    for (const q of this.extraQueues) n += q.consumed
    return n
  }

  /** Instances inside their handler, between taking a value and asking for the next. */
  get busyCount(): number {
    let n = 0
    for (const i of this.instances) if (i.phase === 'busy') n++
    return n
  }

  /** No instance is inside its handler (for idle()). */
  get quiet(): boolean {
    return this.state !== 'running' || this.instances.every((i) => i.phase !== 'busy')
  }

  /** Some instance will take buffered input without time passing. */
  get consuming(): boolean {
    return this.state === 'running' && this.instances.some((i) => i.phase === 'pulling' || i.phase === 'busy')
  }

  /** Some instance waits out its backoff after a crash, and will take input again. */
  get restarting(): boolean {
    return this.state === 'running' && this.instances.some((i) => i.phase === 'backoff')
  }

  /** Records buffered for this agent. */
  get buffered(): number {
    let n = this.queue.size
    for (const q of this.extraQueues) n += q.size
    return n
  }

  wakeAll(): void {
    this.queue.wakeAll()
    for (const q of this.extraQueues) q.wakeAll()
  }

  /** Ends every instance's streams (a stop): handlers finish the value in hand and return. */
  close(): void {
    for (const i of this.instances) i.aborted = true
    this.queue.close()
    for (const q of this.extraQueues) q.close()
  }
}
