/**
 * The kafka:// broker runs the Broker conformance suite against the real
 * broker (cases in order, one file: group joins cost seconds), once under each
 * consumer group protocol: the consumer protocol (KIP-848, the default) and
 * the classic one kept for brokers older than Kafka 4.0. Every topic and group
 * name is new, so earlier runs do not matter.
 */
import { brokerConformance } from '@stream-app/core/conformance'
import { openKafkaBroker } from '../src/index.ts'
import { kafkaUrl } from './helpers.ts'

for (const protocol of ['consumer', 'classic'] as const) {
  const open = () => openKafkaBroker({ url: kafkaUrl(), brokerOptions: { 'group.protocol': protocol } })
  brokerConformance(`kafka:// (group.protocol ${protocol})`, {
    open,
    peer: open,
    transactions: true,
    // No atomic commit: the log is not a local database (exactly-once is Kafka's transactions).
    atomic: false,
    // Nobody listens on port 1.
    unreachable: () => openKafkaBroker({ url: 'kafka://127.0.0.1:1' }),
  })
}
