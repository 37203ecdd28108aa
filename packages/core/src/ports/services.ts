/**
 * The ports as Effect services: a worker is built in an Effect context that
 * provides a Broker and a Store (one layer per adapter: memory here, sqlite and
 * kafka in their packages), each acquired with acquireRelease so closing the
 * worker's scope closes them, also after a start that failed half way.
 */
import * as Context from 'effect/Context'
import * as Effect from 'effect/Effect'
import * as Layer from 'effect/Layer'
import type { Broker, Store } from './index.ts'
import type { Tracing } from './tracing.ts'
import type { WebServerFactory } from './view.ts'

export class BrokerService extends Context.Service<BrokerService, Broker>()('stream-app/Broker') {}
export class StoreService extends Context.Service<StoreService, Store>()('stream-app/Store') {}
/** Optional: a platform with a web server provides it. */
export class WebService extends Context.Service<WebService, WebServerFactory>()('stream-app/Web') {}
/** Optional: a platform with a tracer provides it; used when the config turns telemetry on. */
export class TracingService extends Context.Service<TracingService, Tracing>()('stream-app/Tracing') {}

/** A broker layer: `open` acquires it, closing the scope closes it. */
export const brokerLayer = <E>(open: Effect.Effect<Broker, E>): Layer.Layer<BrokerService, E> =>
  Layer.effect(
    BrokerService,
    Effect.acquireRelease(open, (b) => Effect.promise(() => b.close().catch(() => {}))),
  )

/** A store layer: `open` acquires it, closing the scope closes it. */
export const storeLayer = <E, R>(open: Effect.Effect<Store, E, R>): Layer.Layer<StoreService, E, R> =>
  Layer.effect(
    StoreService,
    Effect.acquireRelease(open, (s) => Effect.sync(() => s.close())),
  )
