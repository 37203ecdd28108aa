/**
 * Agents at run time: `concurrency` instances of the handler share one source
 * queue, each run as an Effect fiber under a supervisor. A handler that throws
 * is restarted with exponential backoff (the message that made it throw is
 * acknowledged); `one_for_all` restarts every instance of the agent together.
 * Yielded values go to the sink topics and answer `ask()`.
 */
import * as Cause from 'effect/Cause'
import * as Effect from 'effect/Effect'
import * as Exit from 'effect/Exit'
import * as Fiber from 'effect/Fiber'
import type { AgentDef, TopicDef } from '../definition/definition.ts'
import { errorMessage, NotOwnedError } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { Clock } from '../ports/index.ts'
import { ackInflight, type Cursor, type Item, newCursor } from './internal/cursor.ts'
import { type Histogram, observe } from './internal/histogram.ts'
import { FatalDecodeError, type SourceQueue } from './internal/source.ts'
import { type StreamHost, StreamImpl, sourcePull } from './internal/stream.ts'
import type { TopicRuntime } from './internal/topics.ts'

/** What an agent needs from the worker. */
export interface AgentServices {
  readonly appId: string
  readonly clock: Clock
  readonly log: Logger
  topic(name: string): TopicRuntime | undefined
  /** The agent's queue for a topic (created and subscribed on demand). */
  subscribe(agent: string, def: TopicDef): Promise<SourceQueue>
  forward(topic: string, key: unknown, value: unknown, from: Item): void
  /** Called with each yielded value: sink sends and replies. */
  emit(agent: AgentDef, value: unknown, cursor: Cursor): void
  /** The per-instance ctx object handed to the handler. */
  makeContext(cursor: Cursor): unknown
  onRestart(agent: string, error: unknown): void
  /** Processing time per value (handler got it → asked for the next). */
  readonly latency: Histogram
  /** The worker's exactly-once commit gate (see StreamHost.gate). */
  readonly gate: () => Promise<void> | undefined
}

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 30_000
/** A run that lasted this long resets the backoff. */
const HEALTHY_MS = 60_000

export const backoffMs = (failures: number): number =>
  Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1))

class Instance implements StreamHost {
  cursor: Cursor = newCursor()
  aborted = false
  /** busy: in the handler; pulling: waiting for input; backoff: restarting later; done: finished. */
  phase: 'busy' | 'pulling' | 'backoff' | 'done' = 'pulling'
  /** Set by one_for_all: the run ended because a sibling failed, start again. */
  restartRequested = false
  private tasks: Promise<void>[] = []
  private backgroundFailure: unknown

  constructor(
    readonly runner: AgentRunner,
    readonly index: number,
  ) {}

  get clock() {
    return this.runner.services.clock
  }
  get appId() {
    return this.runner.services.appId
  }
  get gate() {
    return this.runner.services.gate()
  }
  get agent() {
    return this.runner.def.name
  }
  private handedAt = 0
  private handed = 0

  setWaiting(w: boolean): void {
    if (w) {
      // Latency is sampled (every 8th value): a clock read per message is measurable overhead.
      if (this.phase === 'busy' && this.handedAt !== 0) {
        observe(this.runner.services.latency, (performance.now() - this.handedAt) / 1000)
        this.handedAt = 0
      }
      this.phase = 'pulling'
    } else {
      this.phase = 'busy'
      if ((++this.handed & 7) === 0) this.handedAt = performance.now()
    }
    if (this.backgroundFailure !== undefined && w) {
      const e = this.backgroundFailure
      this.backgroundFailure = undefined
      throw e
    }
  }
  subscribe(def: TopicDef): Promise<SourceQueue> {
    return this.runner.services.subscribe(this.agent, def).then((q) => {
      this.runner.extraQueues.add(q)
      return q
    })
  }
  topic(name: string) {
    return this.runner.services.topic(name)
  }
  forward(topic: string, key: unknown, value: unknown, from: Item): void {
    this.runner.services.forward(topic, key, value, from)
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

  /** One run of the handler, until its stream ends or it throws. */
  async run(): Promise<void> {
    this.cursor = newCursor()
    this.aborted = false
    this.phase = 'busy'
    this.tasks = []
    const { def, queue, services } = this.runner
    const stream = new StreamImpl(this, sourcePull(queue, this), undefined)
    const ctx = services.makeContext(this.cursor)
    const result = def.handler(stream, ctx)
    if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
      const runner = this.runner
      for await (const out of result as AsyncIterable<unknown>) {
        runner.yielded++
        services.emit(def, out, this.cursor)
      }
    } else {
      await result
    }
    // The handler returned: what it pulled is processed.
    ackInflight(this.cursor)
    if (this.backgroundFailure !== undefined) throw this.backgroundFailure
  }

  /** After a failure: the message that made the handler throw is acknowledged, not redelivered forever. */
  acknowledgeFailed(): void {
    ackInflight(this.cursor)
  }
}

export class AgentRunner {
  readonly instances: Instance[]
  readonly extraQueues = new Set<SourceQueue>()
  restarts = 0
  /** Values the handler yielded. */
  yielded = 0

  /** Messages the handler took from its streams. */
  get consumed(): number {
    let n = this.queue.consumed
    for (const q of this.extraQueues) n += q.consumed
    return n
  }
  state: 'running' | 'stopped' | 'failed' = 'running'
  private fibers: Fiber.Fiber<void, never>[] = []
  private stopping = false

  constructor(
    readonly def: AgentDef,
    readonly queue: SourceQueue,
    readonly services: AgentServices,
  ) {
    this.instances = Array.from({ length: def.concurrency }, (_, i) => new Instance(this, i))
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

  start(): void {
    this.fibers = this.instances.map((inst) => Effect.runFork(this.supervise(inst)))
  }

  private supervise(inst: Instance): Effect.Effect<void> {
    const runner = this
    const { log, clock } = this.services
    const name = this.instances.length > 1 ? `${this.def.name}#${inst.index}` : this.def.name
    return Effect.gen(function* () {
      let failures = 0
      for (;;) {
        const started = clock.now()
        const exit = yield* Effect.exit(Effect.tryPromise({ try: () => inst.run(), catch: (e) => e }))
        if (runner.stopping) return
        if (Exit.isSuccess(exit)) {
          if (inst.restartRequested) {
            inst.restartRequested = false
            continue
          }
          log.info(`agent ${name} finished: its handler returned`)
          inst.phase = 'done'
          return
        }
        const error = Cause.squash(exit.cause)
        const err =
          error instanceof Error && error.cause !== undefined && !(error instanceof FatalDecodeError)
            ? error.cause
            : error
        if (err instanceof FatalDecodeError) {
          log.error(
            `agent ${name} stopped: ${err.message} (onInvalid: 'fail'); the message stays uncommitted`,
            {
              topic: err.topic,
              partition: err.partition,
              offset: err.offset,
            },
          )
          runner.state = 'failed'
          inst.phase = 'done'
          return
        }
        if (err instanceof NotOwnedError) {
          // The app touches table keys of partitions other workers hold: restarting cannot help,
          // and acknowledging the message would lose its table change. Stop where it is.
          const at = inst.cursor.current?.rec
          log.error(
            `agent ${name} stopped: ${err.message}; the message stays uncommitted`,
            at ? { topic: at.topic, partition: at.partition, offset: at.offset } : {},
          )
          runner.state = 'failed'
          inst.phase = 'done'
          return
        }
        inst.acknowledgeFailed()
        failures = clock.now() - started > HEALTHY_MS ? 1 : failures + 1
        runner.restarts++
        const delay = backoffMs(failures)
        log.error(`agent ${name} crashed: ${errorMessage(err)}; restarting in ${delay}ms`, {
          agent: runner.def.name,
          restarts: runner.restarts,
          ...(err instanceof Error && err.stack ? { stack: err.stack } : {}),
          ...(inst.cursor.current
            ? {
                topic: inst.cursor.current.rec.topic,
                partition: inst.cursor.current.rec.partition,
                offset: inst.cursor.current.rec.offset,
              }
            : {}),
        })
        runner.services.onRestart(runner.def.name, err)
        if (runner.def.supervisor === 'one_for_all') {
          for (const other of runner.instances) {
            if (other !== inst) {
              other.restartRequested = true
              other.abort()
            }
          }
        }
        inst.phase = 'backoff'
        yield* Effect.promise(() => clock.sleep(delay))
        if (runner.stopping) return
      }
    })
  }

  /** Ends every instance's stream, waits for handlers to finish (up to timeoutMs), then interrupts. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true
    for (const i of this.instances) i.aborted = true
    this.queue.close()
    for (const q of this.extraQueues) q.close()
    // An instance waiting out its backoff has nothing to finish: interrupt its sleep now.
    const sleeping = this.fibers.filter((_, i) => this.instances[i]!.phase === 'backoff')
    if (sleeping.length) await Effect.runPromise(Fiber.interruptAll(sleeping))
    const all = Effect.runPromise(Effect.forEach(this.fibers, (f) => Fiber.await(f), { discard: true }))
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (timedOut) {
      this.services.log.warn(`agent ${this.def.name} did not finish within ${timeoutMs}ms; interrupting it`)
      await Effect.runPromise(Fiber.interruptAll(this.fibers))
    }
    this.state = 'stopped'
  }
}
