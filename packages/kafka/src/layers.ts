/** The kafka:// adapter as an Effect layer: the broker a worker is built on, closed with its scope. */
import { asFailure, brokerLayer } from '@stream-app/core/runtime'
import * as Effect from 'effect/Effect'
import { type KafkaBrokerOptions, openKafkaBroker } from './broker.ts'

export const kafkaBrokerLayer = (options: KafkaBrokerOptions) =>
  brokerLayer(Effect.tryPromise({ try: () => openKafkaBroker(options), catch: asFailure }))
