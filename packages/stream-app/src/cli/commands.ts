/**
 * What each CLI command does, once its arguments have been checked: run a
 * worker until a signal (or until it stops itself), list what the app
 * defines, reset its local state, run one of the app's own commands (`send`
 * and `tail` have files of their own).
 */
import { existsSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { type AppDefinition, ConfigError, type ResolvedConfig } from '@stream-app/core'
import { asFailure, BrokerService, type LogLevel, messageOf, resolveConfig } from '@stream-app/core/runtime'
import { resetApp, SqliteBroker } from '@stream-app/sqlite'
import * as Deferred from 'effect/Deferred'
import * as Effect from 'effect/Effect'
import { brokerFor } from '../adapters.ts'
import { runWorker, withClient } from '../workers.ts'
import { describeApp, printTable } from './describe.ts'
import { launcherGone, watchesLauncher } from './launcher.ts'
import { Shutdown } from './main.ts'
import { topicRows } from './topic-replication.ts'

export interface Io {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

type Args = Readonly<Record<string, unknown>>

const logLevel = (a: Args): LogLevel | undefined => {
  if (a['json-logs']) process.env.STREAM_APP_JSON_LOGS = '1'
  return (a['log-level'] as LogLevel | undefined) ?? undefined
}

/**
 * `run`: a worker until SIGINT/SIGTERM or the exit of the package runner that
 * launched it (then it commits, leaves the group and the process exits 0), or
 * until it stops itself because it cannot go on (1).
 */
export const run = (def: AppDefinition, a: Args, io: Io): Effect.Effect<number, unknown, Shutdown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const shutdown = yield* Shutdown
      // From the start: a signal while the worker starts stops it as soon as it is up.
      shutdown.graceful = true
      const level = logLevel(a)
      // The worker and its adapters live in this command's scope: leaving it stops them.
      const runtime = yield* runWorker(def, {
        ...(level ? { logLevel: level } : {}),
        ...(a.broker ? { broker: a.broker as string } : {}),
        ...(a.datadir ? { datadir: a.datadir as string } : {}),
        ...(a['worker-id'] !== undefined ? { workerId: a['worker-id'] as string } : {}),
        web: {
          ...(a['web-port'] !== undefined ? { port: a['web-port'] as number } : {}),
          ...(a['web-host'] !== undefined ? { host: a['web-host'] as string } : {}),
          ...(a['without-web'] ? { enabled: false } : {}),
        },
      })
      // First to run as the scope closes; a stop that fails is said on stderr.
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => runtime.stop().catch((e) => io.err(`stream-app: stop failed: ${messageOf(e)}`))),
      )
      const signalled = Deferred.await(shutdown.requested).pipe(Effect.map((s) => `${s} received`))
      const ended = yield* Effect.raceFirst(
        (watchesLauncher(a['stop-with-parent']) ? Effect.raceFirst(signalled, launcherGone) : signalled).pipe(
          Effect.map((why) => ({ why })),
        ),
        Effect.promise(() => runtime.done).pipe(Effect.map(() => ({ why: undefined }))),
      )
      if (ended.why !== undefined) {
        runtime.log.info(`${ended.why}: stopping`)
        return 0
      }
      // The worker stopped itself: it could not go on (its table state could not be loaded).
      if (runtime.fatal) io.err(`stream-app: ${messageOf(runtime.fatal)}`)
      return runtime.fatal ? 1 : 0
    }),
  )

/** `topics|agents|tables|routes`: what the app defines, as a table or JSON (topics with their replication). */
export const list = (def: AppDefinition, kind: 'topics' | 'agents' | 'tables' | 'routes', a: Args, io: Io) =>
  Effect.gen(function* () {
    const rows =
      kind === 'topics'
        ? yield* topicRows(def, a.broker as string | undefined, io.err)
        : describeApp(def)[kind]
    if (a.json) io.out(JSON.stringify(rows, null, 2))
    else printTable(rows as Record<string, unknown>[], io.out)
    return 0
  })

/**
 * `reset`: deletes the app's datadir (its table store) and, with `--topics`,
 * its topics and consumer group on the embedded broker, saying what it deletes.
 * With `--topics` the broker part runs first: while a worker of the app is
 * alive it refuses, and nothing is deleted.
 */
export const reset = (def: AppDefinition, a: Args, io: Io) =>
  Effect.gen(function* () {
    const overrides = {
      ...(a.datadir ? { datadir: a.datadir as string } : {}),
      ...(a.broker ? { broker: a.broker as string } : {}),
    }
    const config = yield* Effect.try({ try: () => resolveConfig(def.config, overrides), catch: asFailure })
    if (a.topics) yield* resetTopics(def, config, io)
    return yield* Effect.try({
      try: () => {
        const dir = resolve(config.datadir)
        if (!existsSync(dir)) {
          io.out(`nothing to reset: ${config.datadir} does not exist`)
          return 0
        }
        rmSync(dir, { recursive: true, force: true })
        io.out(
          `removed ${config.datadir} (the table store of '${config.id}': its tables rebuild from their changelogs)`,
        )
        return 0
      },
      catch: asFailure,
    })
  })

/**
 * The broker part of `reset --topics`, on the broker built from its layer as a
 * worker's is (closed when done), without its background maintenance.
 */
const resetTopics = (def: AppDefinition, config: ResolvedConfig, io: Io): Effect.Effect<void, unknown> => {
  const url = config.broker
  // Said before any broker is opened: another URL's layer would connect to it.
  if (!url.startsWith('sqlite://'))
    return Effect.fail(
      new ConfigError(
        `reset --topics deletes topics on the embedded sqlite:// broker only; the app's broker is ${url}`,
      ),
    )
  return Effect.gen(function* () {
    const broker = yield* BrokerService
    // The layer of a sqlite:// URL is the embedded broker: its file is what a reset deletes from.
    if (!(broker instanceof SqliteBroker))
      return yield* Effect.fail(new ConfigError(`reset --topics: ${url} did not open the embedded broker`))
    const r = yield* Effect.try({
      try: () => resetApp(broker, def.config.id, Object.keys(def.topics)),
      catch: asFailure,
    })
    for (const t of r.topics) io.out(`deleted topic ${t.name} (${t.records} records)`)
    if (!r.topics.length) io.out(`no topics of '${def.config.id}' on ${url}`)
    if (r.group) io.out(`deleted consumer group ${r.group} (its members and committed offsets)`)
  }).pipe(
    Effect.provide(
      brokerFor(config, { log: { debug() {}, info() {}, warn() {}, error() {} }, maintenance: false }),
    ),
  )
}

/** One of the app's own commands, with a client worker (sends, asks, table reads). */
export const appCommand = (def: AppDefinition, name: string, a: Args) =>
  Effect.suspend(() => {
    const c = def.commands[name]!
    const level = logLevel(a)
    return withClient(def, level ? { logLevel: level } : {}, async (client) => {
      const args: Record<string, unknown> = { _: ((a._ as unknown[]) ?? []).slice(1) }
      for (const k of [...Object.keys(c.options), ...Object.keys(c.args)])
        if (a[k] !== undefined) args[k] = a[k]
      await c.fn(args, client.ctx)
      return 0
    })
  })
