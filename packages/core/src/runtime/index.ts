/**
 * `@stream-app/core/runtime`: the runtime port, for the packages built on core
 * (the CLI and adapter wiring of `stream-app`, the web server, the sqlite and
 * kafka adapters) and the benchmarks. It is not the user's API (that is the
 * main entry, as API.md documents it): what is here may change with the
 * runtime. The running worker's own view of itself stays the inspection port
 * (`WorkerRuntime.inspect`, ports/inspect.ts).
 */

// Building an app on a platform and running it (the CLI, app.start/test, benchmarks).
export { MemoryBroker } from '../adapters/memory/broker.ts'
export { MemoryStore } from '../adapters/memory/store.ts'
export { BUILTIN_COMMANDS, createAppWith } from '../definition/builder.ts'
export { compileSchema, schemaCodec } from '../definition/codec.ts'
export { toMillis } from '../definition/duration.ts'
// Failures as adapters raise and classify them.
export { asFailure, messageOf, retriable } from '../definition/errors.ts'
export { DEFAULT_MAX_POLL_RECORDS } from '../definition/production.ts'
export { formatBytes } from '../definition/web-config.ts'
export { isPortFailure, PORT_FAILURE_TAGS, toBrokerFailure, toStoreFailure } from '../ports/failures.ts'
export { NO_HEADERS } from '../ports/index.ts'
export { partitionForKey } from '../ports/partitioner.ts'
// Adapters are provided to a worker as these services.
export {
  BrokerService,
  brokerLayer,
  StoreService,
  storeLayer,
  TracingService,
  WebService,
} from '../ports/services.ts'
export { fmtTps, tpKey } from '../ports/topic-partitions.ts'
export { resolveConfig } from './config.ts'
export type { LaunchOptions, MemoryRuntimeOptions, WorkerDeps, WorkerSpec } from './entry.ts'
export { launch, startMemoryRuntime, startRuntime, startTestWorker, worker, workerFacade } from './entry.ts'
export { internalTopicNames, membersTopicName } from './internal-topics.ts'
export { type LoggerOptions, type LogLevel, makeLogger } from './logger.ts'
export { GROUP_SETTLE_MS } from './readiness.ts'
export { parseFrom, TopicReader } from './records.ts'
/** The runtime's backoff, for adapters' code that is promises. */
export { type RetryPromiseOptions, retryPromise } from './retry.ts'
/** The running worker: a type only (never constructed outside core); its `inspect` is the inspection port. */
export type { WorkerRuntime } from './worker-runtime.ts'
