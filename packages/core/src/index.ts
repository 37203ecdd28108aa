/**
 * @stream-app/core: the public API of API.md (the typed builder, windows,
 * Schema, the errors users meet) and the ports' types. Users import from
 * 'stream-app', which re-exports this with the default adapters wired in.
 * What the CLI, the web server, the adapters and the benchmarks need of the
 * runtime is the `@stream-app/core/runtime` entry (runtime/index.ts);
 * structure.test.ts keeps any other value off this one.
 */
import { createAppWith } from './definition/builder.ts'
import { memoryPlatform } from './runtime/entry.ts'

export * as Schema from 'effect/Schema'
export type {
  AgentOptions,
  AgentReturn,
  App,
  ChannelOptions,
  HookFn,
  LayerResource,
  OnError,
  ServiceSpec,
  SetTableOptions,
  TableOptions,
  TopicOptions,
} from './definition/app.ts'
export type { AnySchema, CodecName, Serde } from './definition/codec.ts'
export type * from './definition/definition.ts'
export type { Duration } from './definition/duration.ts'
export type { Failure } from './definition/errors.ts'
export {
  AskTimeoutError,
  BrokerError,
  ConfigError,
  DecodeError,
  EncodeError,
  IdleTimeoutError,
  NotCopartitionedError,
  NotOwnedError,
  StoppedError,
  StoreError,
  StreamAppError,
  UnexpectedError,
  WorkerFailedError,
} from './definition/errors.ts'
export type { HookDef, HookEvent, OnErrorFn, ServiceDef, TaskDef } from './definition/lifecycle.ts'
export type { Platform, Runnable, TestOptions } from './definition/platform.ts'
export type { ProductionConfig, ResolvedProduction } from './definition/production.ts'
export type * from './definition/types.ts'
export type { SessionOptions, WindowOptions, WindowRange, WindowSpec } from './definition/windows.ts'
export { hopping, session, sliding, tumbling } from './definition/windows.ts'
export type * from './ports/index.ts'
export type * from './ports/inspect.ts'
export type * from './ports/sensor.ts'
export type * from './ports/tracing.ts'
export type * from './ports/view.ts'
/**
 * Creates an app that runs on the in-process memory:// broker. The `stream-app`
 * package exports a createApp that also runs on sqlite:// and kafka://.
 */
export const createApp = createAppWith(memoryPlatform)
