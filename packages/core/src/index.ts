/**
 * @stream-app/core: the typed builder, the runtime, the ports and the
 * in-process adapters. Users import from 'stream-app', which re-exports this
 * with the default adapters wired in.
 */
import { createAppWith } from './definition/builder.ts'
import { memoryPlatform } from './runtime/entry.ts'

export * as Schema from 'effect/Schema'
export { MemoryBroker } from './adapters/memory/broker.ts'
export { MemoryStore } from './adapters/memory/store.ts'
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
export { BUILTIN_COMMANDS, createAppWith, makeApp, makeDefinition } from './definition/builder.ts'
export type { AnySchema, CodecName, Serde } from './definition/codec.ts'
export { compileSchema, makeKeySerde, makeSerde, schemaCodec } from './definition/codec.ts'
export type * from './definition/definition.ts'
export type { Duration } from './definition/duration.ts'
export { toMillis } from './definition/duration.ts'
export * from './definition/errors.ts'
export type { HookDef, HookEvent, OnErrorFn, ServiceDef, TaskDef } from './definition/lifecycle.ts'
export { HOOK_TIMEOUT_MS } from './definition/lifecycle.ts'
export type { Platform, Runnable, TestOptions } from './definition/platform.ts'
export type { ProductionConfig, ResolvedProduction } from './definition/production.ts'
export type * from './definition/types.ts'
export {
  DEFAULT_BODY_LIMIT,
  formatBytes,
  parseByteSize,
  WEB_TOKEN_ENV,
} from './definition/web-config.ts'
export type { SessionOptions, WindowOptions, WindowRange, WindowSpec } from './definition/windows.ts'
export { hopping, session, sliding, tumbling } from './definition/windows.ts'
export { isPortFailure, PORT_FAILURE_TAGS, toBrokerFailure, toStoreFailure } from './ports/failures.ts'
export type * from './ports/index.ts'
export { NO_HEADERS } from './ports/index.ts'
export type * from './ports/inspect.ts'
export { crc32PartitionForKey, murmur2, partitionForKey } from './ports/partitioner.ts'
export type * from './ports/sensor.ts'
export {
  BrokerService,
  brokerLayer,
  StoreService,
  storeLayer,
  TracingService,
  WebService,
} from './ports/services.ts'
export { fmtTps, tpKey } from './ports/topic-partitions.ts'
export type * from './ports/tracing.ts'
export type * from './ports/view.ts'
export { resolveConfig } from './runtime/config.ts'
export type { LaunchOptions, MemoryRuntimeOptions, WorkerDeps, WorkerSpec } from './runtime/entry.ts'
export {
  launch,
  memoryPlatform,
  portsLayer,
  startMemoryRuntime,
  startRuntime,
  startTestWorker,
  worker,
  workerFacade,
} from './runtime/entry.ts'
export { internalTopicNames, membersTopicName } from './runtime/internal-topics.ts'
export { type LoggerOptions, type LogLevel, makeLogger } from './runtime/logger.ts'
export { GROUP_SETTLE_MS } from './runtime/readiness.ts'
export { parseFrom, readRecords, TopicReader } from './runtime/records.ts'
/** For adapters: the runtime's backoff, for code that is promises. */
export { type RetryPromiseOptions, retryPromise } from './runtime/retry.ts'
export { CORRELATION_ID, REPLY_TO } from './runtime/sinks.ts'
/** The running worker, for the CLI, the web server and benchmarks: a type only (never constructed outside core); its `inspect` is the inspection port. */
export type { WorkerRuntime } from './runtime/worker-runtime.ts'

/**
 * Creates an app that runs on the in-process memory:// broker. The `stream-app`
 * package exports a createApp that also runs on sqlite:// and kafka://.
 */
export const createApp = createAppWith(memoryPlatform)
