/**
 * The V8 heap's growth while a worker runs. A worker streaming records makes
 * short-lived garbage at a high rate, and part of it (records waiting in the
 * source queues) lives just long enough to reach the old generation. V8 lets
 * the old generation grow to up to four times what survived its last full
 * collection before it collects again: on a Kafka passthrough that was a heap
 * of ~200 MB around ~50 MB of live objects, and a peak RSS of ~500 MB. With a
 * growth of 50% per collection the heap stays near 100 MB (peak RSS ~300 MB)
 * for a few more full collections, most of whose marking runs on V8's helper
 * threads.
 *
 * The flag is process-wide: it is set while at least one worker runs and put
 * back when the last one stops, and left alone when the process was started
 * with its own (`--heap-growing-percent` in its arguments or NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8'
import * as Effect from 'effect/Effect'
import type * as Scope from 'effect/Scope'

/** Growth of the old generation's limit over what survived a full collection, in percent. */
export const WORKER_HEAP_GROWING_PERCENT = 50

const FLAG = '--heap-growing-percent'

let running = 0

const setByUser = (): boolean =>
  process.execArgv.some((a) => a.startsWith(FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(FLAG)

const set = (percent: number): void => {
  try {
    setFlagsFromString(`${FLAG}=${percent}`)
  } catch {
    // A runtime without the flag (or with frozen flags) keeps its defaults.
  }
}

/** Sets the worker's heap growth for as long as the scope is open. */
export const workerHeapGrowth: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    if (setByUser()) return false
    if (running++ === 0) set(WORKER_HEAP_GROWING_PERCENT)
    return true
  }),
  (counted) =>
    Effect.sync(() => {
      // 0 is V8's own default: the growth factor chosen from the heap's size and the GC's speed.
      if (counted && --running === 0) set(0)
    }),
)
