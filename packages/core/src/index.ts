/**
 * @stream-app/core: the typed builder, the runtime, the ports and the
 * in-process adapters. Users import from 'stream-app', which re-exports this
 * with the default adapters wired in.
 */
import { createAppWith } from './builder.ts'
import { memoryPlatform } from './platform.ts'

export * as Schema from 'effect/Schema'
export type { AgentOptions, AgentReturn, App, TableOptions, TopicOptions } from './builder.ts'
export { BUILTIN_COMMANDS, createAppWith, makeApp, makeDefinition } from './builder.ts'
export { liveClock, TestClock } from './clock.ts'
export type { AnySchema, CodecName, Serde } from './codec.ts'
export { compileSchema, makeKeySerde, makeSerde, oneLine, schemaCodec } from './codec.ts'
export type * from './definition.ts'
export type { Duration } from './duration.ts'
export { toMillis } from './duration.ts'
export * from './errors.ts'
export { MemoryBroker } from './memory/broker.ts'
export { MemoryStore } from './memory/store.ts'
export { murmur2, partitionForKey } from './partitioner.ts'
export type { MemoryRuntimeOptions, Platform, TestOptions } from './platform.ts'
export {
  memoryPlatform,
  startMemoryRuntime,
  startRuntime,
  startTestWorker,
  workerFacade,
} from './platform.ts'
export type * from './ports.ts'
export { NO_HEADERS } from './ports.ts'
export { resolveConfig } from './runtime/config.ts'
export { type LoggerOptions, type LogLevel, makeLogger } from './runtime/logger.ts'
export type { WebServerHandle, WorkerDeps, WorkerState, WorkerStats } from './runtime/worker.ts'
export { CORRELATION_ID, REPLY_TO, WorkerRuntime } from './runtime/worker.ts'
export { fmtTps, tpKey } from './topic-partitions.ts'
export type * from './types.ts'
export type { WindowOptions, WindowRange, WindowSpec } from './windows.ts'
export { hopping, sliding, tumbling } from './windows.ts'

/**
 * Creates an app that runs on the in-process memory:// broker. The `stream-app`
 * package exports a createApp that also runs on sqlite:// and kafka://.
 */
export const createApp = createAppWith(memoryPlatform)
