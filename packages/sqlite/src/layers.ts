/**
 * The sqlite:// adapters as Effect layers: the broker and the store a worker
 * is built on, opened when the worker starts and closed with its scope.
 */
import { asFailure, brokerLayer, storeLayer } from '@stream-app/core/runtime'
import * as Effect from 'effect/Effect'
import { openSqliteBroker, type SqliteBrokerOptions } from './broker.ts'
import { openSqliteStore } from './store.ts'

/** The embedded durable broker at `options.path`. */
export const sqliteBrokerLayer = (options: SqliteBrokerOptions) =>
  brokerLayer(Effect.try({ try: () => openSqliteBroker(options), catch: asFailure }))

/** The table store file at `options.path`. */
export const sqliteStoreLayer = (options: { path: string }) =>
  storeLayer(Effect.try({ try: () => openSqliteStore(options), catch: asFailure }))
