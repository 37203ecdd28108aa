/**
 * The fetch loop, a fiber of the worker: batches from the group consumer into
 * the source queues of the agents that consume their topic, pausing topics
 * whose queues are full (and waiting for one to drain when all are). A failed
 * fetch is retried with the shared backoff; interrupting the fiber wakes a
 * fetch that is waiting for data.
 */
import * as Effect from 'effect/Effect'
import { messageOf } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { GroupConsumer, RecordBatch } from '../ports/index.ts'
import { tpKey } from '../ports/topic-partitions.ts'
import type { Assignment } from './assignment.ts'
import type { Activity } from './internal/activity.ts'
import type { SourceQueue } from './internal/source.ts'
import { repeatWithBackoff, retrying } from './retry.ts'
import type { WorkerSensor } from './sensor.ts'

const FETCH_WAIT_MS = 250

export interface FetchDeps {
  readonly consumer: GroupConsumer
  readonly assignment: Assignment
  readonly log: Logger
  readonly activity: Activity
  /** Told the records fetched per topic. */
  readonly sensor: Pick<WorkerSensor, 'fetched'>
  /** Records one fetch returns at most (maxPollRecords). */
  readonly maxRecords: number
}

/** Hands each batch to the queues of its topic and notes how far each partition is fetched. */
export function deliver(batches: readonly RecordBatch[], d: FetchDeps): void {
  const { assignment } = d
  for (const b of batches) {
    const n = b.records.length
    if (n === 0) continue
    assignment.fetched(tpKey(b.topic, b.partition), b.records[n - 1]!.offset + 1)
    d.sensor.fetched(b.topic, n)
    const queues = assignment.queuesByTopic.get(b.topic)
    if (queues) for (const q of queues) q.push(b)
  }
  d.activity.notify()
}

/**
 * Pauses topics whose queues are full. Returns a promise to wait on when
 * everything is paused, and the full queues (while other topics stay active,
 * the fetch waiting on those must also end when a full queue drains).
 */
export function backpressure(d: FetchDeps): {
  wait: Promise<void> | undefined
  full: ReadonlySet<SourceQueue>
} {
  const { assignment, consumer } = d
  const full = new Set<SourceQueue>()
  const pause = new Set<string>()
  for (const [topic, queues] of assignment.queuesByTopic) {
    for (const q of queues) {
      if (q.full) {
        full.add(q)
        pause.add(topic)
      }
    }
  }
  const tps = [...assignment.partitions.values()]
  const paused = assignment.pausedTopics
  const toPause = [...pause].filter((t) => !paused.has(t))
  const toResume = [...paused].filter((t) => !pause.has(t))
  if (toPause.length) {
    consumer.pause(tps.filter((tp) => toPause.includes(tp.topic)))
    for (const t of toPause) paused.add(t)
  }
  if (toResume.length) {
    consumer.resume(tps.filter((tp) => toResume.includes(tp.topic)))
    for (const t of toResume) paused.delete(t)
  }
  const active = [...assignment.subscribed].some((t) => !paused.has(t) && t !== assignment.leaderTopic)
  if (!active && full.size) return { wait: Promise.race([...full].map((q) => q.drained())), full }
  return { wait: undefined, full }
}

/**
 * Fetches one step runs at most. A step is one effect (a retried promise); the
 * fetches inside it are plain promises, so the effect machinery (a retry
 * schedule, an abort signal, the fiber's scheduling) is paid per step, not per
 * fetch: with fetches of 1,000 records it was ~0.1–0.2 µs per record.
 */
const FETCHES_PER_STEP = 32

/** The loop; runs until interrupted. */
export const fetchLoop = (d: FetchDeps): Effect.Effect<never> => {
  // A fetch of the active topics waits up to FETCH_WAIT_MS for data; a paused topic whose queue
  // drains meanwhile must not wait that long to be resumed (an idle topic next to a busy one).
  let wakeArmed = false
  /**
   * Fetches and delivers until every topic is paused, then resolves with what to wait for
   * (wrapped: an async function returning a promise would wait for it itself, inside the retry).
   */
  const fetchSome = async (signal: AbortSignal): Promise<{ readonly wait: Promise<void> } | undefined> => {
    signal.addEventListener('abort', () => d.consumer.wakeup(), { once: true })
    for (let i = 0; i < FETCHES_PER_STEP && !signal.aborted; i++) {
      const { wait, full } = backpressure(d)
      if (wait) return { wait }
      if (full.size && !wakeArmed) {
        wakeArmed = true
        void Promise.race([...full].map((q) => q.drained())).then(() => {
          wakeArmed = false
          d.consumer.wakeup()
        })
      }
      const batches = await d.consumer.fetch({ maxRecords: d.maxRecords, maxWaitMs: FETCH_WAIT_MS })
      if (signal.aborted) break
      deliver(batches, d)
    }
    return undefined
  }
  // A failed fetch ends its step; the step is tried again with the shared backoff, from its
  // first delay each time a step starts (as when every fetch was a step of its own, but for
  // failures that come between successes of one step: those count on).
  const step = retrying(fetchSome, (e, delay) =>
    d.log.error(`fetch failed: ${messageOf(e)}; retrying in ${Math.round(delay)}ms`),
  ).pipe(Effect.flatMap((paused) => (paused === undefined ? Effect.void : Effect.promise(() => paused.wait))))
  // Not retriable (or the retries gave out): said, then tried again after the shared backoff.
  return repeatWithBackoff(step, (e, delay) =>
    d.log.error(`fetch failed: ${messageOf(e)}; trying again in ${Math.round(delay)}ms`),
  )
}
