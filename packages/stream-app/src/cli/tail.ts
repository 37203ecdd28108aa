/**
 * `stream-app tail <app> <topic>`: a topic's records as JSON lines, read with
 * the broker's partition reader (or, with --group, as a member of that group,
 * committing what it printed), so the app's own group never notices. Without
 * --follow it stops at the ends the partitions had when it started; with it,
 * it waits for more until SIGINT/SIGTERM (then exits 0).
 */
import { type AppDefinition, ConfigError, type RecordQuery } from '@stream-app/core'
import { asFailure, BrokerService, parseFrom, resolveConfig, TopicReader } from '@stream-app/core/runtime'
import * as Context from 'effect/Context'
import * as Deferred from 'effect/Deferred'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import { brokerFor } from '../adapters.ts'
import type { Io } from './commands.ts'
import { Shutdown } from './main.ts'

type Args = Readonly<Record<string, unknown>>

/** The query `tail`'s options describe, or a ConfigError naming the bad one. */
export function tailQuery(a: Args): RecordQuery {
  const whole = (name: string): number | undefined => {
    const v = a[name]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new ConfigError(`option --${name} must be a whole number ≥ 0`)
    return v
  }
  const partition = whole('partition')
  const limit = whole('limit')
  return {
    topic: String(a.topic),
    ...(a.from !== undefined ? { from: parseFrom(String(a.from)) } : {}),
    ...(partition !== undefined ? { partition } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(a.group !== undefined ? { group: String(a.group) } : {}),
  }
}

export const tail = (def: AppDefinition, a: Args, io: Io): Effect.Effect<number, unknown, Shutdown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const query = yield* Effect.try({ try: () => tailQuery(a), catch: asFailure })
      const config = resolveConfig(def.config, a.broker ? { broker: a.broker as string } : {})
      if (config.broker.startsWith('memory://'))
        return yield* Effect.fail(
          new ConfigError(
            'cannot tail a memory:// broker from another process: it lives inside the worker (use sqlite:// or kafka://)',
          ),
        )
      const shutdown = yield* Shutdown
      shutdown.graceful = true
      const broker = Context.get(yield* Layer.build(brokerFor(config)), BrokerService)
      const reader = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => TopicReader.open(broker, def, query), catch: asFailure }),
        (r) => Effect.promise(() => r.close().catch(() => {})),
      )
      const follow = Boolean(a.follow)
      let stop = false
      const read = Effect.tryPromise({
        try: async () => {
          while (!stop && !reader.limitReached && (follow || !reader.atEnd)) {
            const records = await reader.next({ maxWaitMs: 500, bounded: !follow })
            for (const r of records) io.out(JSON.stringify(r))
            if (records.length) await reader.commit()
          }
          return 0
        },
        catch: asFailure,
      })
      const signalled = Deferred.await(shutdown.requested).pipe(
        Effect.andThen(
          Effect.sync(() => {
            stop = true
            reader.wakeup()
          }),
        ),
      )
      // A signal ends the loop at its next turn; what was read so far is committed (with --group).
      yield* Effect.forkScoped(signalled)
      return yield* read
    }),
  )
