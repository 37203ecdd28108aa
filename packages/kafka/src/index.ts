/**
 * @stream-app/kafka: the kafka:// broker adapter for stream-app, on
 * @confluentinc/kafka-javascript (librdkafka). Loaded lazily by `stream-app`,
 * so users of the embedded brokers never need librdkafka.
 */
export { KafkaBroker, type KafkaBrokerOptions, openKafkaBroker } from './broker.ts'
export { KafkaGroupConsumer } from './consumer.ts'
export { kafkaBrokerLayer } from './layers.ts'
export { membersTopic } from './members.ts'
export { KafkaTransactionalProducer } from './producer.ts'
export { KafkaReader } from './reader.ts'
export { startKafkaRuntime } from './runtime.ts'
