/**
 * ask(): a message to an agent's topic carrying a reply-to topic and a
 * correlation id; the first value the agent yields for it comes back on this
 * app's reply topic, where a fiber of the worker reads it and settles the
 * waiting promise. Pending asks time out on the worker's clock and are
 * rejected when the worker stops.
 */
import { randomUUID } from 'node:crypto'
import * as Effect from 'effect/Effect'
import type * as Scope from 'effect/Scope'
import { AskTimeoutError, asFailure, messageOf, StoppedError } from '../definition/errors.ts'
import type { Logger } from '../definition/types.ts'
import type { Broker, RecordBatch } from '../ports/index.ts'
import type { Activity } from './internal/activity.ts'
import { repeatWithBackoff, retrying } from './retry.ts'
import { CORRELATION_ID, REPLY_TO } from './sinks.ts'
import type { Timekeeper } from './time.ts'

interface Pending {
  resolve(v: unknown): void
  reject(e: unknown): void
  cancel(): void
}

const FETCH_WAIT_MS = 250

export class Rpc {
  readonly replyTopic: string
  private readonly pending = new Map<string, Pending>()
  /** Asks waiting for their reply: a handler awaiting one is outside its message for a commit. */
  inFlight = 0

  constructor(
    appId: string,
    private readonly time: Timekeeper,
    private readonly activity: Activity,
  ) {
    this.replyTopic = `${appId}-__replies`
  }

  /**
   * Sends with `send` (given the reply headers) and resolves with the reply,
   * or rejects with AskTimeoutError after timeoutMs.
   */
  ask(
    agent: string,
    timeoutMs: number,
    send: (headers: Record<string, Uint8Array>) => Promise<unknown>,
  ): Promise<unknown> {
    const id = randomUUID()
    return new Promise((resolve, reject) => {
      const cancel = this.time.after(timeoutMs, () => {
        const p = this.pending.get(id)
        if (p && this.pending.delete(id))
          p.reject(new AskTimeoutError(`ask to agent '${agent}' got no reply within ${timeoutMs}ms`))
      })
      this.inFlight++
      this.activity.notify()
      const done = () => {
        this.inFlight--
        this.activity.notify()
      }
      this.pending.set(id, {
        resolve: (v) => {
          done()
          resolve(v)
        },
        reject: (e) => {
          done()
          reject(e)
        },
        cancel,
      })
      send({ [REPLY_TO]: Buffer.from(this.replyTopic), [CORRELATION_ID]: Buffer.from(id) }).catch((e) => {
        const p = this.pending.get(id)
        this.pending.delete(id)
        cancel()
        p?.reject(e)
      })
    })
  }

  /** Settles the asks the replies in these batches answer. */
  deliver(batches: readonly RecordBatch[]): void {
    for (const b of batches) {
      for (const r of b.records) {
        if (!r.key) continue
        const id = Buffer.from(r.key).toString('utf8')
        const pending = this.pending.get(id)
        if (!pending) continue
        this.pending.delete(id)
        pending.cancel()
        try {
          pending.resolve(
            (JSON.parse(Buffer.from(r.value ?? []).toString('utf8')) as { value: unknown }).value,
          )
        } catch (e) {
          pending.reject(e)
        }
      }
    }
  }

  rejectAll(): void {
    for (const [, p] of this.pending) {
      p.cancel()
      p.reject(new StoppedError('ask: the worker stopped before a reply came'))
    }
    this.pending.clear()
  }
}

/**
 * Reads the reply topic from its end, in a fiber of the current scope; closing
 * the scope stops it and closes the reader. Failed reads are retried with the
 * shared backoff.
 */
export const readReplies = (
  rpc: Rpc,
  broker: Broker,
  log: Logger,
): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const [end] = yield* Effect.tryPromise({
      try: () => broker.endOffsets([{ topic: rpc.replyTopic, partition: 0 }]),
      catch: asFailure,
    })
    const reader = yield* Effect.acquireRelease(
      Effect.sync(() => broker.reader([{ topic: rpc.replyTopic, partition: 0, offset: end!.offset }])),
      (r) =>
        Effect.promise(async () => {
          r.wakeup()
          await r.close().catch(() => {})
        }),
    )
    const fetchOnce = retrying(
      (signal) => {
        signal.addEventListener('abort', () => reader.wakeup(), { once: true })
        return reader.fetch({ maxRecords: 1000, maxWaitMs: FETCH_WAIT_MS })
      },
      (e, delay) => log.warn(`reading replies failed: ${messageOf(e)}; retrying in ${Math.round(delay)}ms`),
    )
    yield* Effect.forkScoped(
      repeatWithBackoff(fetchOnce.pipe(Effect.map((batches) => rpc.deliver(batches))), (e, delay) =>
        log.error(`reading replies failed: ${messageOf(e)}; trying again in ${Math.round(delay)}ms`),
      ),
    )
  })
