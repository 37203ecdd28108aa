/**
 * What an App needs to run: a Platform picks the adapters (core's own knows
 * only memory://; the `stream-app` package passes one that also knows
 * sqlite://, kafka:// and the web server). Passed explicitly: no registration
 * by side effect. Types only, so the builder depends on no runtime.
 */
import type { AppConfig, AppDefinition } from './definition.ts'
import type { Registry, TestWorker, Worker } from './types.ts'

/** What the CLI needs of an App (app.main()): its definition. */
export interface Runnable {
  readonly definition: AppDefinition
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

export interface TestOptions {
  /** Start time of the test clock (ms since the epoch); default: the real now. */
  readonly startTime?: number
  readonly logLevel?: LogLevel
}

export interface Platform {
  start(def: AppDefinition, overrides?: Partial<AppConfig>): Promise<Worker<Registry>>
  test(def: AppDefinition, options?: TestOptions): Promise<TestWorker<Registry>>
  main(app: Runnable, argv: readonly string[]): Promise<void>
}
