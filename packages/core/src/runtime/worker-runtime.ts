/**
 * The running worker as core exports it (worker(), launch(), startRuntime,
 * startMemoryRuntime): the WorkerView the web server reads, the handles and
 * ctx the app sees, its lifecycle, and the inspection port. It names no type
 * of runtime/internal and hands out no adapter: the class behind it (view.ts)
 * keeps its parts to itself, and whoever needs the broker (the CLI's tail)
 * builds it from the adapters' layer.
 */
import type { AppDefinition } from '../definition/definition.ts'
import type { Duration } from '../definition/duration.ts'
import type { WorkerFailedError } from '../definition/errors.ts'
import type { AgentHandle, Logger, ResolvedConfig, TopicHandle } from '../definition/types.ts'
import type { BrokerRecord } from '../ports/index.ts'
import type { WorkerInspection } from '../ports/inspect.ts'
import type { Sensor, WorkerState } from '../ports/sensor.ts'
import type { RecordJson, RecordQuery, WorkerView } from '../ports/view.ts'

export interface WorkerRuntime extends WorkerView {
  readonly state: WorkerState
  readonly id: string
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger & { child(name: string): Logger }
  /** This worker's stable identity (worker-id.ts), if it has one. */
  readonly workerId: string | undefined
  /** Set when the worker stopped itself (its state could not be loaded); `done` then resolves. */
  readonly fatal: WorkerFailedError | undefined
  /** Resolves once the worker has stopped, by stop() or by itself after a fatal error. */
  readonly done: Promise<void>
  /** Set when the worker runs on Effect's TestClock (app.test(), `testClockAt`): moves its time. */
  readonly testClock: { now(): number; advance(ms: number): Promise<void> } | undefined
  readonly sensor: Sensor
  /** Plain reads for the CLI, benchmarks and tooling: topic facts, table sizes, agent counts. */
  readonly inspect: WorkerInspection
  /** The topics' send handles, as `ctx.topics` has them. */
  readonly topicHandles: Record<string, TopicHandle<unknown, unknown>>
  /** The agents' handles, as `ctx.agents` has them. */
  readonly agentHandles: Record<string, AgentHandle<unknown, unknown, unknown>>
  /** The ctx of timers, cron jobs, routes and commands (no current event). */
  readonly ctx: Record<string, unknown>
  records(query: RecordQuery & { readonly limit: number }): Promise<readonly RecordJson[]>
  /** The web URL of the worker that holds a table key, or undefined when it is this one (or unknown). */
  ownerUrl(table: string, key: unknown): Promise<string | undefined>
  /** This worker is its group's leader. */
  isLeader(): boolean
  /** Commits now: sink sends, table changes, offsets. */
  commit(): Promise<void>
  /** Resolves when everything sent so far has been processed; IdleTimeoutError after `timeout`. */
  idle(options?: { timeout?: Duration }): Promise<void>
  /** Commits and shuts down. */
  stop(): Promise<void>
  /** A record of a topic decoded for reading (a topic the app does not declare: raw bytes as Buffers). */
  decode(topic: string, rec: BrokerRecord): RecordJson
}
