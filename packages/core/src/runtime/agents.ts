/**
 * Agents under supervision: every instance of every agent is a fiber in one
 * FiberMap keyed `agent#instance`. A fiber runs the handler as
 * Effect.tryPromise with an AbortSignal, so interrupting it ends the handler's
 * streams; a crash is logged (with its stack), the message that caused it is
 * acknowledged, and the handler restarts after the shared backoff (Effect.retry).
 * `one_for_all` restarts the agent's other instances by running them again
 * under their keys, which interrupts the old fibers. A run that lasted a minute
 * starts the backoff afresh. Decode failures under onInvalid 'fail' and table
 * keys another worker holds stop the instance where it is, uncommitted.
 * A handler that throws once its ctx.signal aborted (a stop, or a revoke of
 * the record's partition) did not crash: its record stays unacknowledged and
 * nobody is told. Otherwise the agent's onError hears of the crash, and under
 * `supervisor: 'crash'` the worker stops instead of restarting it.
 */
import * as Effect from 'effect/Effect'
import * as FiberMap from 'effect/FiberMap'
import * as Match from 'effect/Match'
import * as Schedule from 'effect/Schedule'
import type * as Scope from 'effect/Scope'
import type { AgentDef, AppDefinition } from '../definition/definition.ts'
import { asFailure, messageOf } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { Tracing } from '../ports/tracing.ts'
import type { Assignment } from './assignment.ts'
import type { Channels } from './channels.ts'
import type { Committer } from './commit.ts'
import type { Contexts } from './context.ts'
import type { Activity } from './internal/activity.ts'
import { type AgentHost, AgentRunner, type Instance } from './internal/instance.ts'
import type { Outbox } from './internal/outbox.ts'
import { FatalDecodeError, type InvalidHandler, SourceQueue } from './internal/source.ts'
import { decodeHeaders, type TopicRuntime } from './internal/topics.ts'
import { ackHeld, type Lifecycle, wallClock } from './lifecycle.ts'
import { BACKOFF_BASE_MS, backoff } from './retry.ts'
import type { WorkerSensor } from './sensor.ts'
import type { Sinks } from './sinks.ts'
import type { Timekeeper } from './time.ts'
import type { WorkerStatus } from './worker-state.ts'

/** A run that lasted this long starts the backoff afresh. */
const HEALTHY_MS = 60_000

/** Why a run ended other than by returning. */
class Crash {
  constructor(
    readonly error: unknown,
    readonly lastedMs: number,
    /** Thrown once the signal of the record in hand had aborted: a stop or a revoke, not a crash. */
    readonly aborted: boolean,
    /** The run took a record before it threw (a run that took none would throw again at once). */
    readonly tookRecord: boolean,
  ) {}
}
/** The handler returned; a sibling's one_for_all restart ends a run this way too. */
type Ended = 'returned' | 'healthy-crash' | 'aborted'

export interface AgentsDeps {
  readonly runners: ReadonlyMap<string, AgentRunner>
  readonly log: Logger & { child(name: string): Logger }
  readonly time: Timekeeper
  /** Told of every crash. */
  readonly sensor: Pick<WorkerSensor, 'crashed'>
  /** ctx.signal of each record (a handler failing once its signal aborted did not crash), and the agents' onError. */
  readonly lifecycle: Pick<Lifecycle, 'signals' | 'onError'>
  /** The ctx an agent's onError is told of a crash with. */
  readonly contexts: Pick<Contexts, 'make'>
  /** Stopped from the inside by a crash under supervisor 'crash'. */
  readonly worker: Pick<WorkerStatus, 'crash'>
  /** app.test(): a restart does not wait out its backoff (idle() then covers restarting agents). */
  readonly instantRestarts?: boolean
}

export interface Agents {
  /** Starts every instance. */
  readonly start: Effect.Effect<void>
  /**
   * Ends every instance's streams and waits (up to timeoutMs) for the handlers
   * to finish the value in hand, then interrupts what is left.
   */
  stop(timeoutMs: number): Effect.Effect<void>
}

/** Unwraps what a rejected handler promise was rejected with. */
const reason = (e: unknown): unknown =>
  e instanceof Error && e.cause !== undefined && !(e instanceof FatalDecodeError) ? e.cause : e

export const makeAgents = (deps: AgentsDeps): Effect.Effect<Agents, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fibers = yield* FiberMap.make<string>()
    const keyOf = (inst: Instance) => `${inst.agent}#${inst.index}`
    const signals = deps.lifecycle.signals
    let stopping = false

    const supervise = (inst: Instance): Effect.Effect<void> => {
      const runner = inst.runner
      const log = deps.log.child(inst.agent)
      // One run: fails with a Crash when the handler threw, unless the run was long (a fresh backoff then).
      const once: Effect.Effect<Ended, Crash> = Effect.suspend(() => {
        const started = deps.time.now()
        return Effect.tryPromise({
          try: (signal) => inst.run(signal),
          catch: (e) =>
            new Crash(
              reason(e),
              deps.time.now() - started,
              stopping || heldAborted(inst),
              inst.cursor.current !== undefined,
            ),
        }).pipe(
          Effect.as<Ended>('returned'),
          Effect.tapError((c) => (c.aborted ? aborted(inst) : crashed(inst, c.error))),
          Effect.catchIf(
            (c) => c.aborted || (restartable(c.error) && c.lastedMs >= HEALTHY_MS && !crashes(inst)),
            (c) => Effect.succeed<Ended>(c.aborted ? 'aborted' : 'healthy-crash'),
          ),
        )
      })
      const delays = backoff<Crash>((c, delay) => {
        log.error(`agent ${inst.name} crashed: ${messageOf(c.error)}; restarting in ${Math.round(delay)}ms`, {
          agent: inst.agent,
          restarts: runner.restarts,
          ...(c.error instanceof Error && c.error.stack ? { stack: c.error.stack } : {}),
        })
        inst.phase = 'backoff'
        runner.lastCrash = messageOf(c.error)
        deps.sensor.crashed(inst.agent, c.error)
      })
      // app.test() restarts at once a handler that crashed on a record (the record is acknowledged,
      // so the next run takes the next one). One that threw before taking any would throw again at
      // once, in a loop that never lets the event loop turn (idle() would hang): it waits out its
      // backoff on the test clock, which t.advance() moves.
      const schedule = deps.instantRestarts
        ? delays.pipe(
            Schedule.modifyDelay(({ input, duration }) => Effect.succeed(input.tookRecord ? 0 : duration)),
          )
        : delays
      const retried = once.pipe(
        Effect.retry({ schedule, while: (c) => restartable(c.error) && !stopping && !crashes(inst) }),
      )
      return Effect.gen(function* () {
        for (;;) {
          const ended = yield* Effect.exit(retried)
          if (stopping) return
          if (ended._tag === 'Failure') {
            if (crashes(inst)) return // the worker stops: crashWorker said why
            const failure = ended.cause.reasons.find((r) => r._tag === 'Fail')
            stopHere(inst, failure?.error instanceof Crash ? failure.error.error : ended.cause)
            return
          }
          if (ended.value === 'aborted') {
            if (stopping || signals.worker.aborted) {
              inst.phase = 'done'
              return
            }
            continue // its partition was revoked: on with the partitions it still has
          }
          if (ended.value === 'returned') {
            log.info(`agent ${inst.name} finished: its handler returned`)
            inst.phase = 'done'
            return
          }
          // A crash after a long healthy run: restart after the first step of a fresh backoff.
          log.error(`agent ${inst.name} crashed after a healthy run; restarting in ${BACKOFF_BASE_MS}ms`)
          inst.phase = 'backoff'
          yield* Effect.sleep(BACKOFF_BASE_MS)
        }
      })
    }

    /** The signal of the record in hand aborted: nothing of a revoked partition is acknowledged. */
    const aborted = (inst: Instance): Effect.Effect<void> =>
      Effect.sync(() => {
        ackHeld(inst.cursor, (rec) => !signals.of(rec.topic, rec.partition).aborted)
      })

    /** A crash: onError hears of it; acknowledge its message, count it, restart the siblings under one_for_all. */
    const crashed = (inst: Instance, error: unknown): Effect.Effect<void> =>
      Effect.suspend(() => {
        const told = inst.runner.def.onError
          ? Effect.promise(() =>
              deps.lifecycle.onError(
                `agent '${inst.agent}'`,
                inst.runner.def.onError!,
                error,
                deps.contexts.make(inst.cursor),
                eventOf(inst),
              ),
            )
          : Effect.void
        if (crashes(inst))
          return told.pipe(
            Effect.andThen(
              Effect.sync(() => {
                inst.runner.state = 'failed'
                inst.phase = 'done'
                deps.worker.crash(`agent '${inst.agent}' crashed (supervisor 'crash'): ${messageOf(error)}`)
              }),
            ),
          )
        if (!restartable(error)) return told
        return told.pipe(Effect.andThen(restartSiblings(inst)))
      })

    const heldAborted = (inst: Instance): boolean => {
      const rec = inst.cursor.current?.rec
      if (signals.worker.aborted) return true
      return rec !== undefined && signals.of(rec.topic, rec.partition).aborted
    }

    const restartSiblings = (inst: Instance): Effect.Effect<void> =>
      Effect.suspend(() => {
        inst.acknowledgeFailed()
        inst.runner.restarts++
        if (inst.runner.def.supervisor !== 'one_for_all' || stopping) return Effect.void
        // Running a sibling again under its key interrupts its fiber (its handler's streams end).
        return Effect.forEach(
          inst.runner.instances.filter((o) => o !== inst),
          (other) => FiberMap.run(fibers, keyOf(other), supervise(other)),
          { discard: true },
        )
      })

    /** The instance stops at the message it holds, which stays uncommitted (restarting cannot help). */
    const stopHere = (inst: Instance, error: unknown) => {
      const log = deps.log.child(inst.agent)
      // A record that failed to decode never became current: the error says where it is.
      const at = error instanceof FatalDecodeError ? error : inst.cursor.current?.rec
      const where = at ? { topic: at.topic, partition: at.partition, offset: at.offset } : {}
      if (error instanceof FatalDecodeError)
        log.error(
          `agent ${inst.name} stopped: ${error.message} (onInvalid: 'fail'); the message stays uncommitted`,
          where,
        )
      else log.error(`agent ${inst.name} stopped: ${messageOf(error)}; the message stays uncommitted`, where)
      inst.runner.state = 'failed'
      inst.runner.stoppedBy = { reason: messageOf(error), ...where }
      inst.phase = 'done'
    }

    return {
      start: Effect.forEach(
        [...deps.runners.values()].flatMap((r) => r.instances),
        (inst) => FiberMap.run(fibers, keyOf(inst), supervise(inst)),
        { discard: true },
      ),
      stop: (timeoutMs) =>
        Effect.gen(function* () {
          stopping = true
          for (const r of deps.runners.values()) r.close()
          // An instance waiting out its backoff has nothing to finish: interrupt it now.
          for (const r of deps.runners.values())
            for (const inst of r.instances)
              if (inst.phase === 'backoff') yield* FiberMap.remove(fibers, keyOf(inst))
          // Real time, also under app.test(): nobody moves the test clock while a test stops its worker.
          const finished = yield* wallClock(
            FiberMap.awaitEmpty(fibers).pipe(
              Effect.timeout(timeoutMs),
              Effect.as(true),
              Effect.catch(() => Effect.succeed(false)),
            ),
          )
          if (!finished) {
            deps.log.warn(`agents did not finish within ${timeoutMs}ms; interrupting them`)
            yield* FiberMap.clear(fibers)
          }
          for (const r of deps.runners.values()) if (r.state === 'running') r.state = 'stopped'
        }),
    }
  })

/** The agent's supervisor stops the worker at a crash. */
const crashes = (inst: Instance): boolean => inst.runner.def.supervisor === 'crash'

/** The event the handler held when it failed (for onError). */
function eventOf(inst: Instance): unknown {
  const item = inst.cursor.current
  if (item === undefined) return undefined
  const r = item.rec
  return Object.freeze({
    key: item.key,
    value: item.value,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    headers: decodeHeaders(r.headers),
  })
}

/**
 * Restarting helps unless the message cannot be decoded (onInvalid 'fail') or its table key is
 * held elsewhere: decided by the failure's tag (a handler's own error is an UnexpectedError).
 */
const restartable = (e: unknown): boolean =>
  Match.value(asFailure(e)).pipe(
    Match.tag('NotOwnedError', 'NotCopartitionedError', () => false),
    // onInvalid 'fail' stops at the record; a DecodeError a handler threw itself is restarted.
    Match.tag('DecodeError', (d) => !(d instanceof FatalDecodeError)),
    Match.orElse(() => true),
  )

/**
 * An agent's queue of one or more topics, registered with the assignment so fetched records reach it;
 * `capacity` records (streamBufferMaxsize) before the fetch pauses its topics.
 */
export function sourceQueue(
  agent: string,
  topics: readonly TopicRuntime[],
  assignment: Assignment,
  invalid: InvalidHandler,
  capacity: number,
): SourceQueue {
  const q = new SourceQueue(agent, new Map(topics.map((t) => [t.name, t] as const)), capacity, invalid)
  for (const t of topics) assignment.addQueue(t.name, q)
  return q
}

/** What the runners share: the parts a handler's records and yields pass through. */
export interface RunnersDeps {
  readonly appId: string
  readonly topics: ReadonlyMap<string, TopicRuntime>
  readonly assignment: Assignment
  readonly log: Logger & { child(name: string): Logger }
  readonly time: Timekeeper
  readonly activity: Activity
  readonly channels: Channels
  /** Records per source queue before the fetch pauses its topics (streamBufferMaxsize). */
  readonly capacity: number
  /** The agent's queue for a topic, created and subscribed on demand (groupBy, through). */
  readonly subscribe: AgentHost['subscribe']
  /** Where yields, forwards and undecodable records go. */
  readonly sinks: Pick<Sinks, 'emit' | 'forward' | 'invalid'>
  readonly contexts: Pick<Contexts, 'make'>
  /** Holds records back while an exactly-once commit settles or a rewind rebuilds. */
  readonly committer: Pick<Committer, 'gate'>
  /** Holds records back while the producer is behind. */
  readonly outbox: Pick<Outbox, 'pressure'>
  readonly sensor: Pick<WorkerSensor, 'timing' | 'latency'>
  readonly tracing: Tracing | undefined
}

/** What holds an agent's records back: the exactly-once commit gate, else the producer's backpressure. */
class HoldBack {
  constructor(
    private readonly committer: Pick<Committer, 'gate'>,
    private readonly outbox: Pick<Outbox, 'pressure'>,
  ) {}
  wait(): Promise<void> | undefined {
    return this.committer.gate ?? this.outbox.pressure()
  }
}

/**
 * A runner per agent of the definition, each with its source queue, put into
 * `runners` (the map the committer, the sensor and the stall watch read).
 */
export function makeRunners(def: AppDefinition, o: RunnersDeps, runners: Map<string, AgentRunner>): void {
  const { topics, sinks, contexts, committer, outbox, sensor } = o
  const host: Omit<AgentHost, 'log'> = {
    appId: o.appId,
    time: o.time,
    activity: o.activity,
    topics,
    subscribe: o.subscribe,
    sinks,
    contexts,
    holdBack: new HoldBack(committer, outbox),
    sensor,
    tracing: o.tracing,
  }
  for (const a of Object.values(def.agents) as AgentDef[]) {
    const q =
      a.channel !== undefined
        ? o.channels.reader(a.channel)
        : sourceQueue(
            a.name,
            a.from.map((f) => topics.get(f)!),
            o.assignment,
            sinks.invalid,
            o.capacity,
          )
    runners.set(a.name, new AgentRunner(a, q, { ...host, log: o.log.child(a.name) }))
  }
}
