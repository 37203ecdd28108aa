/**
 * Shared pieces of core's tests: workers of one app on a shared memory broker
 * (a second one with an empty store, whose tables can only come from the
 * changelogs), their topics and tables as the tests use them, and the
 * process's stderr captured while workers log.
 */
import type { AppDefinition } from '../src/index.ts'
import type { MemoryBroker, MemoryRuntimeOptions, WorkerRuntime } from '../src/runtime/index.ts'
import { MemoryStore, startMemoryRuntime } from '../src/runtime/index.ts'
import type { RunningWorker } from '../src/runtime/view.ts'

/** A worker on `broker` that leaves it open on stop, logging nothing but what options say. */
export const startOn = (def: AppDefinition, broker: MemoryBroker, options: MemoryRuntimeOptions = {}) =>
  startMemoryRuntime(def, { broker, closeBroker: false, logLevel: 'silent', ...options })

/** A worker on `broker` with an empty store: nothing but the changelogs to recover from. */
export const startFromChangelog = (
  def: AppDefinition,
  broker: MemoryBroker,
  options: MemoryRuntimeOptions = {},
) => startOn(def, broker, { store: new MemoryStore(), ...options })

export interface TestSend {
  send(value: unknown, options: { key: string; timestamp?: number }): Promise<unknown>
}

/** The worker's topic handles (ctx.topics), untyped. */
export const topicsOf = (w: WorkerRuntime) => w.ctx.topics as Record<string, TestSend>

/** The worker's table views (ctx.tables), as the test reads them. */
export const tablesOf = <T>(w: WorkerRuntime) => w.ctx.tables as Record<string, T>

/**
 * The worker behind the exported WorkerRuntime, for core's tests that look at
 * its parts (agent states, standby rows, the store); outside core only the
 * interface and its inspection port exist.
 */
export const running = (w: WorkerRuntime): RunningWorker => w as RunningWorker

/** Runs fn with the process's stderr (where workers log) captured. */
export async function captureStderr(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string) => {
    lines.push(String(chunk))
    return true
  }) as typeof process.stderr.write
  try {
    await fn()
  } finally {
    process.stderr.write = write
  }
  return lines.join('')
}
