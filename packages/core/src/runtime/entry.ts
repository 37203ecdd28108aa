/**
 * Core's entry points: a worker on given ports (startRuntime), app.test()'s
 * worker (memory://, test clock), and core's platform (memory:// only).
 */

import { MemoryBroker } from '../adapters/memory/broker.ts'
import { MemoryStore } from '../adapters/memory/store.ts'
import type { AppConfig, AppDefinition } from '../definition/definition.ts'
import { type Duration, toMillis } from '../definition/duration.ts'
import { ConfigError } from '../definition/errors.ts'
import type { LogLevel, Platform, TestOptions } from '../definition/platform.ts'
import type { Registry, TestWorker, Worker } from '../definition/types.ts'
import type { Clock, Store } from '../ports/index.ts'
import { liveClock, TestClock } from './clock.ts'
import { resolveConfig } from './config.ts'
import { makeLogger } from './logger.ts'
import { type WorkerDeps, WorkerRuntime } from './worker.ts'

/** The Worker facade over a running WorkerRuntime. */
export function workerFacade(rt: WorkerRuntime): Worker<Registry> {
  const tables: Record<string, unknown> = rt.baseCtx.tables as Record<string, unknown>
  return {
    id: rt.id,
    topics: rt.topicHandles,
    tables: tables as Worker<Registry>['tables'],
    agents: rt.agentHandles,
    get url() {
      return rt.url
    },
    definition: rt.def,
    config: rt.config,
    log: rt.log,
    idle: (o) => rt.idle(o),
    commit: () => rt.commit(),
    stop: () => rt.stop(),
  }
}

/** Starts a worker on given ports; stops it again if start fails half way. */
export async function startRuntime(def: AppDefinition, deps: WorkerDeps): Promise<WorkerRuntime> {
  const rt = new WorkerRuntime(def, deps)
  try {
    await rt.start()
  } catch (e) {
    await rt.stop().catch(() => {})
    throw e
  }
  return rt
}

/** Options of startMemoryRuntime. */
export interface MemoryRuntimeOptions {
  /** Shared by several runtimes to make them members of one group (default: a new one). */
  readonly broker?: MemoryBroker
  readonly store?: Store
  readonly clock?: Clock
  readonly logLevel?: LogLevel
  /** The web config; default off. */
  readonly web?: AppConfig['web']
  /** Starts the web server (when `web` enables it). */
  readonly webServer?: WorkerDeps['web']
  /** Close the broker on stop (default: when this call made it). */
  readonly closeBroker?: boolean
}

/**
 * A WorkerRuntime on the memory:// broker and store with the live clock and a
 * silent logger: for tests and benchmarks that drive the runtime directly
 * (app.test() is the user-facing way).
 */
export function startMemoryRuntime(
  def: AppDefinition,
  options: MemoryRuntimeOptions = {},
): Promise<WorkerRuntime> {
  return startRuntime(def, {
    broker: options.broker ?? new MemoryBroker(),
    store: options.store ?? new MemoryStore(),
    clock: options.clock ?? liveClock,
    log: makeLogger({ level: options.logLevel ?? 'silent', name: def.config.id }),
    config: resolveConfig(def.config, {
      broker: 'memory://',
      store: 'memory://',
      web: options.web ?? { enabled: false },
    }),
    closeBroker: options.closeBroker ?? options.broker === undefined,
    ...(options.webServer ? { web: options.webServer } : {}),
  })
}

/** app.test(): memory broker and store, web off, test clock. */
export async function startTestWorker(
  def: AppDefinition,
  options: TestOptions = {},
): Promise<TestWorker<Registry>> {
  const broker = new MemoryBroker('memory://', { recordSends: true })
  let rt: WorkerRuntime | undefined
  const clock = new TestClock(options.startTime ?? Date.now(), async () => {
    if (rt && rt.state === 'running') await rt.idle()
  })
  const config = resolveConfig(def.config, {
    broker: 'memory://',
    store: 'memory://',
    web: { enabled: false },
  })
  rt = await startRuntime(def, {
    broker,
    store: new MemoryStore(),
    clock,
    log: makeLogger({ level: options.logLevel ?? 'warn', name: def.config.id }),
    config,
    closeBroker: true,
  })
  const worker = rt
  return {
    ...workerFacade(worker),
    advance: (d: Duration) => clock.advance(toMillis(d, 'advance')),
    now: () => clock.now(),
    sent: (topic: string) => broker.sentTo(topic).map((r) => worker.decode(topic, r)),
    /** Not in the API: the broker, for tests that write around a topic's schema. */
    broker,
  } as TestWorker<Registry>
}

/** Core's platform: memory:// only (the stream-app package adds sqlite://, kafka:// and the web server). */
export const memoryPlatform: Platform = {
  async start(def, overrides) {
    const config = resolveConfig(def.config, overrides)
    if (!config.broker.startsWith('memory://') || !config.store.startsWith('memory://'))
      throw new ConfigError(
        `@stream-app/core runs memory:// only; import createApp from 'stream-app' for ${config.broker}`,
      )
    const rt = await startRuntime(def, {
      broker: new MemoryBroker(config.broker),
      store: new MemoryStore(),
      clock: liveClock,
      log: makeLogger({ name: def.config.id, ...(config.logLevel ? { level: config.logLevel } : {}) }),
      config,
      closeBroker: true,
    })
    return workerFacade(rt)
  },
  test: startTestWorker,
  async main() {
    throw new ConfigError(`app.main() needs the 'stream-app' package`)
  },
}
