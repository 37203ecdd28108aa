/**
 * The kafka:// broker runs the Broker conformance suite against the real
 * broker (cases in order, one file: group joins cost seconds). Every topic and
 * group name is new, so earlier runs do not matter.
 */
import { brokerConformance } from '@stream-app/core/conformance'
import { openKafkaBroker } from '../src/index.ts'
import { kafkaUrl } from './helpers.ts'

brokerConformance('kafka://', {
  open: () => openKafkaBroker({ url: kafkaUrl() }),
  peer: () => openKafkaBroker({ url: kafkaUrl() }),
  transactions: true,
  // No atomic commit: the log is not a local database (exactly-once is Kafka's transactions).
  atomic: false,
  // Nobody listens on port 1.
  unreachable: () => openKafkaBroker({ url: 'kafka://127.0.0.1:1' }),
})
