/**
 * A worker: an AppDefinition running on a Broker and a Store, built in one
 * Effect Scope. Every part is acquired in that scope in order — topology,
 * outbox, web server, reply reader, group membership (which recovers tables),
 * fetch loop, supervised agents, scheduled fibers — and closing it releases
 * them in reverse: no new beats, agents finish the record they hold, the last
 * commit, the consumer leaves the group, the web server closes. stop() closes
 * the scope; a start that fails half way closes what it opened. The app's
 * services are acquired before the web server (so released after it), and
 * the last finalizer (the first to run) is the 'stopping' hooks and ctx.signal.
 * Parts are made in dependency order and handed objects, not closures: the
 * running worker (WorkerStatus, worker-state.ts), the ConsumerSlot, the sensor,
 * the runners map; the few callbacks left are those the structure test counts.
 */
import * as Effect from 'effect/Effect'
import * as Option from 'effect/Option'
import type * as Scope from 'effect/Scope'
import type { AgentDef, AppDefinition } from '../definition/definition.ts'
import { asFailure, messageOf } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import { BrokerService, StoreService, TracingService, WebService } from '../ports/services.ts'
import { makeAgents, makeRunners } from './agents.ts'
import { Assignment } from './assignment.ts'
import { watchBlocking } from './blocking.ts'
import { Channels } from './channels.ts'
import { Committer } from './commit.ts'
import { Contexts } from './context.ts'
import { fetchLoop } from './fetch.ts'
import { Activity } from './internal/activity.ts'
import type { AgentRunner } from './internal/instance.ts'
import { closeOnRelease, makeLifecycle, wallClock } from './lifecycle.ts'
import { Members, Membership } from './members.ts'
import { PartitionWatch } from './partition-watch.ts'
import { GroupWatch } from './readiness.ts'
import { joinGroup, Rebalancer } from './rebalance.ts'
import { recoverer, recoverReadOnly } from './recovery.ts'
import { Replicator } from './replicas.ts'
import { Rpc, readReplies } from './rpc.ts'
import { Runs, startSchedules } from './schedule.ts'
import { WorkerSensor } from './sensor.ts'
import { makeOutbox, Sinks } from './sinks.ts'
import { StallWatch } from './stall.ts'
import { dynamicSubscriptions } from './subscriptions.ts'
import { makeTimekeeper } from './time.ts'
import { resolveTopology } from './topology.ts'
import { RunningWorker } from './view.ts'
import { workerIdentity } from './worker-id.ts'
import { ConsumerSlot } from './worker-state.ts'

/** A promise's failure as the effect's failure, the error as it was thrown. */
const attempt = <A>(fn: () => PromiseLike<A>) => Effect.tryPromise({ try: fn, catch: asFailure })

const STOP_TIMEOUT_MS = 15_000

export interface WorkerOptions {
  readonly def: AppDefinition
  readonly config: ResolvedConfig
  readonly log: Logger & { child(name: string): Logger }
  /** A CLI command's worker: no group membership, agents, timers or web; every table partition, read-only. */
  readonly client?: boolean
  /** Closes the scope the worker is built in (its stop()). */
  readonly close: () => Promise<void>
  /** app.test(): a crashed agent restarts without waiting out its backoff. */
  readonly instantRestarts?: boolean
}

export const makeWorker = (
  o: WorkerOptions,
): Effect.Effect<RunningWorker, unknown, BrokerService | StoreService | Scope.Scope> =>
  Effect.gen(function* () {
    const { def, config, log } = o
    const id = def.config.id
    const broker = yield* BrokerService
    const store = yield* StoreService
    const web = yield* Effect.serviceOption(WebService)
    // The tracer, when the config turns telemetry on (a platform provides it; core's own has none).
    const tracing = config.telemetry.enabled
      ? Option.getOrUndefined(yield* Effect.serviceOption(TracingService))
      : undefined
    if (config.telemetry.enabled && !tracing) log.warn(`telemetry is enabled but this platform has no tracer`)
    const time = yield* makeTimekeeper
    const activity = new Activity()
    const rpc = new Rpc(id, time, activity)
    // Made first and handed to the parts: the consumer once joined, the worker's state (its one writer is rt).
    const consumer = new ConsumerSlot()
    const workerId = o.client ? undefined : workerIdentity(config, broker.staticMembership === true, log)
    const rt: RunningWorker = new RunningWorker({ def, config, log, broker, workerId, close: o.close })
    const topology = yield* attempt(() =>
      resolveTopology({
        def,
        config,
        broker,
        store,
        time,
        log,
        replyTopic: rpc.replyTopic,
        // Final values and late events of closing windows go out through the sinks.
        windows: {
          windowClosed: (t, key, w, cursor) => sinks.windowClosed(t, key, w, cursor),
          lateEvent: (t, cursor, streamTime) => sinks.lateEvent(t, cursor, streamTime),
        },
        onBound: (t) => {
          assignment.settle(t)
          // A global table bound by its first write (after start) follows its other partitions at once.
          if (t.global) void replicator.update()
        },
      }),
    )
    const { topics, tables } = topology
    const lifecycle = yield* makeLifecycle({ def, log, worker: rt })
    const assignment = new Assignment(topology.leaderTopic, topics, o.client === true)
    // Someone awaits a held send (exactly_once: a user send, an ask): commit soon, not at the interval.
    const outbox = yield* makeOutbox(broker, config, log, activity, () => committer.commitSoon())
    yield* Effect.addFinalizer(() => Effect.sync(() => rpc.rejectAll()))
    const sinks = new Sinks(topics, outbox, time, log, tracing)
    // The agents' runners, filled by makeRunners below; the committer, the sensor and the stall watch read them.
    const runners = new Map<string, AgentRunner>()
    const stallWatch =
      !o.client && config.production.stallTimeoutMs > 0
        ? new StallWatch({ runners, timeoutMs: config.production.stallTimeoutMs, time, log })
        : undefined
    const sensor = new WorkerSensor({
      worker: rt,
      topics,
      tables,
      agents: runners,
      outbox,
      assignment,
      broker,
      stallWatch,
    })
    const recover = recoverer({ broker, store, config, log, sensor, worker: rt })
    const buffer = config.production.streamBufferMaxsize
    const channels = new Channels(def.channels, buffer, time, rt.ensureRunning)
    const contexts = new Contexts({
      channels: channels.handles,
      id,
      config,
      log,
      topics,
      tables,
      agents: Object.values(def.agents) as AgentDef[],
      outbox,
      rpc,
      time,
      tracing,
      services: lifecycle.services,
      signals: lifecycle.signals,
      ensureRunning: rt.ensureRunning,
    })
    const committer = new Committer({
      id,
      config,
      workerId,
      log,
      broker,
      store,
      consumer,
      assignment,
      tables,
      outbox,
      activity,
      agents: runners,
      rpc,
      worker: rt,
      creating: topology.creating,
      recover,
      sensor,
      time,
    })
    yield* closeOnRelease(committer)
    const subscribe = dynamicSubscriptions({
      topology,
      broker,
      config,
      assignment,
      consumer,
      sinks,
      capacity: buffer,
    })
    makeRunners(
      def,
      {
        appId: id,
        topics,
        assignment,
        log,
        time,
        activity,
        channels,
        capacity: buffer,
        subscribe,
        sinks,
        contexts,
        committer,
        outbox,
        sensor,
        tracing,
      },
      runners,
    )
    const agents = yield* makeAgents({
      runners,
      log,
      time,
      sensor,
      lifecycle,
      contexts,
      worker: rt,
      ...(o.instantRestarts ? { instantRestarts: true } : {}),
    })
    const membership = new Membership(workerId)
    const replicator = new Replicator({ broker, store, config, log, tables, assignment, members: membership })
    const members = new Members({
      consumer,
      assignment,
      broker,
      log,
      worker: rt,
      time,
      membership,
      replicas: replicator,
    })
    yield* closeOnRelease(members)
    yield* closeOnRelease(replicator)
    const runs = new Runs(activity)
    const group = o.client ? undefined : new GroupWatch(time, consumer)
    rt.attach({
      topics,
      tables,
      agents: runners,
      contexts,
      committer,
      sensor,
      members,
      assignment,
      outbox,
      runs,
      activity,
      consumer,
      group,
    })

    rt.recovering(true)
    yield* lifecycle.startServices
    if (o.client) {
      yield* attempt(() => recoverReadOnly(tables, recover, assignment))
      yield* readReplies(rpc, broker, log)
      rt.recovering(false)
      return rt
    }
    // The web server answers (503 on /health) while the worker joins the group and recovers,
    // and its URL goes into the group metadata so other workers can route table queries here.
    if (Option.isSome(web) && config.web.enabled) {
      const handle = yield* Effect.acquireRelease(
        attempt(() => web.value(rt)),
        (h) =>
          Effect.promise(() => h.close().catch((e) => log.warn(`web server close failed: ${messageOf(e)}`))),
      )
      rt.url = handle.url
      log.info(`web server listening on ${rt.url} (503 on /health until ready)`)
    }
    yield* readReplies(rpc, broker, log)
    for (const s of [...topology.sources, topology.leaderTopic]) assignment.follow(s)
    const partitionWatch = new PartitionWatch({
      topics,
      sources: topology.sources,
      tables,
      broker,
      log,
      worker: rt,
    })
    const rebalancer = new Rebalancer({
      log,
      time,
      broker,
      consumer,
      assignment,
      tables,
      recover,
      committer,
      worker: rt,
      partitionWatch,
      hooks: lifecycle,
      autoOffsetReset: config.production.autoOffsetReset,
      replicas: replicator,
      // In this order: readiness, the sensor's hooks, then the membership and the replicas that follow it.
      observers: group ? [group, sensor, members, replicator] : [sensor, members, replicator],
    })
    group?.joining()
    yield* joinGroup({
      broker,
      groupId: id,
      topics: [...assignment.subscribed],
      rebalancer,
      metadata: members.metadata(),
      readCommitted: config.guarantee === 'exactly_once',
      autoOffsetReset: config.production.autoOffsetReset,
      instanceId: rt.workerId,
      slot: consumer,
    })
    // Released before the consumer leaves the group: what was processed is committed.
    yield* Effect.addFinalizer(() => Effect.promise(() => committer.commit().catch(() => {})))
    yield* Effect.forkScoped(
      fetchLoop({
        consumer: consumer.current,
        assignment,
        log,
        activity,
        sensor,
        maxRecords: config.production.maxPollRecords,
      }),
    )
    yield* Effect.forkScoped(replicator.loop)
    // Only a broker other processes use can have its topics changed under the worker.
    if (broker.shared) yield* Effect.forkScoped(partitionWatch.loop)
    yield* Effect.addFinalizer(() => agents.stop(STOP_TIMEOUT_MS))
    yield* agents.start
    if (config.production.blockingTimeoutMs > 0)
      yield* watchBlocking(config.production.blockingTimeoutMs, log)
    if (stallWatch) yield* Effect.forkScoped(stallWatch.loop)
    yield* startSchedules(
      {
        def,
        config,
        log,
        tables,
        activity,
        worker: rt,
        assignment,
        committer,
        lifecycle,
        stopTimeoutMs: STOP_TIMEOUT_MS,
      },
      runs,
    )
    // The last finalizer, so the first step of a stop: 'stopping' hooks, then ctx.signal aborts.
    yield* Effect.addFinalizer(() => wallClock(lifecycle.stopping(STOP_TIMEOUT_MS)))
    rt.ready()
    rt.banner()
    yield* Effect.promise(() => lifecycle.fire('ready'))
    yield* lifecycle.startTasks
    return rt
  })
