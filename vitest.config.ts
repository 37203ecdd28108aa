import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'apps/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // A real Kafka broker (scripts/kafka.sh) unless KAFKA_BROKERS points at one.
    globalSetup: ['packages/kafka/test/global-setup.ts'],
  },
})
