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
 */
import * as Effect from 'effect/Effect'
import * as Option from 'effect/Option'
import type * as Scope from 'effect/Scope'
import type { AgentDef, AppDefinition } from '../definition/definition.ts'
import { asFailure, messageOf, StoppedError } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'
import type { GroupConsumer } from '../ports/index.ts'
import { BrokerService, StoreService, TracingService, WebService } from '../ports/services.ts'
import { makeAgents, makeRunners, sourceQueue } from './agents.ts'
import { Assignment } from './assignment.ts'
import { watchBlocking } from './blocking.ts'
import { Channels } from './channels.ts'
import { Committer } from './commit.ts'
import { Contexts } from './context.ts'
import { fetchLoop } from './fetch.ts'
import { Activity } from './internal/activity.ts'
import type { AgentRunner } from './internal/instance.ts'
import { makeLifecycle, wallClock } from './lifecycle.ts'
import { Members } from './members.ts'
import { PartitionWatch } from './partition-watch.ts'
import { GROUP_SETTLE_MS, GroupWatch } from './readiness.ts'
import { joinGroup, Rebalancer } from './rebalance.ts'
import { recoverer, recoverReadOnly } from './recovery.ts'
import { Replicator } from './replicas.ts'
import { Rpc, readReplies } from './rpc.ts'
import { Runs, startSchedules } from './schedule.ts'
import { WorkerSensor } from './sensor.ts'
import { makeOutbox, Sinks } from './sinks.ts'
import { StallWatch } from './stall.ts'
import { makeTimekeeper } from './time.ts'
import { dynamicSubscriptions, resolveTopology } from './topology.ts'
import { nullConsumer, RunningWorker } from './view.ts'
import { workerIdentity } from './worker-id.ts'

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
    let consumer: GroupConsumer = nullConsumer
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
          t.owned = o.client
            ? new Set(Array.from({ length: t.partitions! }, (_, i) => i))
            : assignment.heldPartitions(t)
          // A global table bound by its first write (after start) follows its other partitions at once.
          if (t.global) void replicator.update()
        },
      }),
    )
    const { topics, tables } = topology
    const lifecycle = yield* makeLifecycle({ def, log, ctx: () => rt.ctx })
    const assignment = new Assignment(topology.leaderTopic, topics)
    // Someone awaits a held send (exactly_once: a user send, an ask): commit soon, not at the interval.
    const outbox = yield* makeOutbox(broker, config, log, activity, () => committer.commitSoon())
    yield* Effect.addFinalizer(() => Effect.sync(() => rpc.rejectAll()))
    const sinks = new Sinks(topics, outbox, time, log, tracing)
    const sensor = new WorkerSensor({
      state: () => rt.state,
      topics,
      tables,
      agents: () => agentsStats(),
      outbox,
      assignment,
      broker,
    })
    const recover = recoverer({
      broker,
      store,
      config,
      log,
      report: (p, finished) => sensor.recovery(p, finished),
      stopping: () => rt.state === 'stopping' || rt.state === 'stopped',
    })
    let runners = new Map<string, AgentRunner>()
    const ensureRunning = (what: string) => {
      if (rt.state === 'stopping' || rt.state === 'stopped')
        throw new StoppedError(`${what}: the worker is stopped`)
    }
    const buffer = config.production.streamBufferMaxsize
    const channels = new Channels(def.channels, buffer, time, ensureRunning)
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
      ensureRunning,
    })
    const committer = new Committer({
      id,
      config,
      workerId,
      log,
      broker,
      store,
      consumer: () => consumer,
      assignment,
      tables,
      outbox,
      activity,
      busy: () => {
        let n = 0
        for (const r of runners.values()) n += r.busyCount
        return n
      },
      waitingOnCommit: () => rpc.inFlight + outbox.heldAwaited,
      running: () => rt.state === 'running',
      stopping: () => rt.state === 'stopping' || rt.state === 'stopped',
      crash: (reason) => rt.crash(reason),
      creatingTopics: () => [...topology.creating],
      recover,
      committed: (ms, ok) => sensor.committed(ms, ok),
      time,
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => committer.close()))

    const subscribe = dynamicSubscriptions({
      topology,
      broker,
      config,
      subscribed: assignment.subscribed,
      subscribe: (ts) => consumer.subscribe(ts),
      makeQueue: (agent, t) => sourceQueue(agent, [t], assignment, sinks.invalid, buffer),
    })
    runners = makeRunners(def, {
      topics,
      assignment,
      invalid: sinks.invalid,
      log,
      channels,
      capacity: buffer,
      host: {
        appId: id,
        time,
        activity,
        topic: (name) => topics.get(name),
        subscribe,
        forward: sinks.forward,
        emit: sinks.emit,
        makeContext: (cursor) => contexts.make(cursor),
        gate: () => committer.gate ?? outbox.pressure(),
        timing: sensor.timing,
        latency: (agent, s) => sensor.latency(agent, s),
        tracing,
      },
    })
    const agents = yield* makeAgents({
      runners,
      log,
      time,
      crashed: (a, e) => sensor.crashed(a, e),
      signals: lifecycle.signals,
      onError: (inst, error, event) =>
        lifecycle.onError(
          `agent '${inst.agent}'`,
          inst.runner.def.onError!,
          error,
          contexts.make(inst.cursor),
          event,
        ),
      crashWorker: (reason) => rt.crash(reason),
      ...(o.instantRestarts ? { instantRestarts: true } : {}),
    })
    const agentsStats = () => agents.stats()
    // What other workers forward table queries to: canonicalUrl when set (behind NAT, a proxy, Kubernetes).
    const advertised = () => config.canonicalUrl ?? rt.url
    const members = new Members(
      () => consumer,
      assignment,
      broker,
      log,
      advertised,
      time,
      () => void replicator.update(),
      workerId,
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => members.close()))
    const replicator = new Replicator({ broker, store, config, log, tables, assignment, members })
    yield* Effect.addFinalizer(() => Effect.sync(() => replicator.close()))
    const runs = new Runs(activity)
    const group = o.client
      ? undefined
      : new GroupWatch(
          () => time.now(),
          () => Math.max(GROUP_SETTLE_MS, consumer.rebalanceSettleMs ?? 0),
        )
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
      consumer: () => consumer,
      group,
    })

    rt.state = 'recovering'
    yield* lifecycle.startServices
    if (o.client) {
      yield* attempt(() => recoverReadOnly(tables, recover))
      yield* readReplies(rpc, broker, log)
      rt.state = 'running'
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
    for (const s of [...topology.sources, topology.leaderTopic]) assignment.subscribed.add(s)
    const partitionWatch = new PartitionWatch({
      topics,
      sources: topology.sources,
      tables,
      broker,
      log,
      running: () => rt.state === 'running',
      crash: (reason) => rt.crash(reason),
    })
    const rebalancer = new Rebalancer({
      log,
      time,
      broker,
      consumer: () => consumer,
      assignment,
      tables,
      recover,
      settleAndCommit: () => committer.commit(true),
      state: {
        get: () => rt.state,
        set: (s) => {
          rt.state = s
        },
      },
      fatal: (reason) => rt.crash(reason),
      admit: (tps) => partitionWatch.admits(tps),
      hooks: { signals: lifecycle.signals, fire: (event, tps) => lifecycle.fire(event, tps) },
      autoOffsetReset: config.production.autoOffsetReset,
      replicas: replicator,
      rebalanced: (kind, tps) => {
        group?.rebalanced(kind, tps)
        sensor.rebalanced(kind, tps)
        members.refresh()
        void replicator.update()
      },
    })
    group?.joining()
    consumer = yield* joinGroup({
      broker,
      groupId: id,
      topics: [...assignment.subscribed],
      rebalancer,
      metadata: members.metadata(advertised()),
      readCommitted: config.guarantee === 'exactly_once',
      autoOffsetReset: config.production.autoOffsetReset,
      instanceId: rt.workerId,
      created: (c) => {
        consumer = c
      },
    })
    // Released before the consumer leaves the group: what was processed is committed.
    yield* Effect.addFinalizer(() => Effect.promise(() => committer.commit().catch(() => {})))
    yield* Effect.forkScoped(
      fetchLoop({
        consumer,
        assignment,
        log,
        activity,
        fetched: (t, n) => sensor.fetched(t, n),
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
    if (config.production.stallTimeoutMs > 0) {
      const stalls = new StallWatch({
        runners: () => runners,
        timeoutMs: config.production.stallTimeoutMs,
        time,
        log,
      })
      sensor.stallWatch = stalls
      yield* Effect.forkScoped(stalls.loop)
    }
    yield* Effect.addFinalizer(() =>
      wallClock(
        Effect.promise(() => runs.settled()).pipe(
          Effect.timeoutOrElse({
            duration: STOP_TIMEOUT_MS,
            orElse: () =>
              Effect.sync(() => log.warn(`timer or cron runs still running after ${STOP_TIMEOUT_MS}ms`)),
          }),
        ),
      ),
    )
    yield* startSchedules(
      {
        def,
        config,
        log,
        tables,
        activity,
        running: () => rt.state === 'running',
        isLeader: () => assignment.isLeader(),
        ctx: () => rt.ctx,
        commit: () => committer.commit(),
        onError: lifecycle.onError,
      },
      runs,
    )
    // The last finalizer, so the first step of a stop: 'stopping' hooks, then ctx.signal aborts.
    yield* Effect.addFinalizer(() => wallClock(lifecycle.stopping(STOP_TIMEOUT_MS)))
    rt.state = 'running'
    rebalancer.started = true
    rt.started = true
    rt.banner()
    yield* Effect.promise(() => lifecycle.fire('ready'))
    yield* lifecycle.startTasks
    return rt
  })
