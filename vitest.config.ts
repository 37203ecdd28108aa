import { defineConfig } from 'vitest/config'

/**
 * Four projects, by what a test needs: `unit` (core on the memory broker and
 * the test clock), `local` (real SQLite files, real HTTP, the real CLI),
 * `kafka` (a real Kafka broker: its global setup starts one unless
 * KAFKA_BROKERS points at one, and only this project asks for it) and `e2e`
 * (several real processes, and the packed-and-installed packages).
 * `vitest run --project unit` runs one.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // One process for the project's files: each would otherwise pay ~1.5 s of start-up and
          // imports (tests restore what they change: env variables, and nothing global else).
          isolate: false,
          include: ['packages/core/src/**/*.test.ts', 'packages/core/test/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'local',
          isolate: false,
          include: [
            'packages/sqlite/test/**/*.test.ts',
            'packages/web/test/**/*.test.ts',
            'packages/schema-registry/test/**/*.test.ts',
            'packages/stream-app/test/**/*.test.ts',
            'apps/**/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'kafka',
          include: ['packages/kafka/test/**/*.test.ts', 'test/e2e/kafka-*.test.ts'],
          globalSetup: ['packages/kafka/test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/sqlite-*.test.ts', 'test/package/**/*.test.ts'],
          setupFiles: ['test/e2e/teardown.ts'],
        },
      },
    ],
  },
})
