import { defineConfig } from 'vitest/config'
import { LongestFirst } from './test/sequencer.ts'

/**
 * Six projects, by what a test needs: `unit` (core on the memory broker and
 * the test clock), `local` (real SQLite files, real HTTP, the real CLI),
 * `kafka` (a real Kafka broker: its global setup starts one unless
 * KAFKA_BROKERS points at one), `e2e` (several real processes on SQLite, and
 * the packed-and-installed packages), `quiet` (the two files that must run
 * alone) and `cluster` (the one file that starts a 3-node Kafka cluster of its
 * own). `vitest run --project unit` runs one.
 *
 * The machine has 2 cores and the suite is mostly CPU-bound (CLI child
 * processes, tsc, npm compiling native addons, worker processes): two files at
 * a time keep both cores busy through the waits (group joins, session
 * timeouts, deliberate outages) a file alone leaves idle; more at once only
 * makes each slower and the tight deadlines tighter. Four groups, run one after
 * the other (sequence.groupOrder); a group's files start longest first
 * (test/sequencer.ts):
 * 1. `kafka` and `unit`, two files at a time. Every topic, group,
 *    transactional id and app id a Kafka file uses is new (uniq() in their
 *    helpers), so they share the one broker; the outage test stops a broker of
 *    its own, never the shared one, and no file reads broker-wide state. Beside
 *    them only the in-process unit files: nothing that compiles or installs,
 *    since a starved worker is what would miss a rebalance or session deadline.
 * 2. `local` and `e2e`, two at a time: the CPU-heavy files (the release build
 *    and npm's native compiles in pack-install, tsc in type-budget and
 *    typecheck, CLI child processes) beside the SQLite end-to-end files, whose
 *    deadlines are generous and which use their own temp dirs and free ports.
 *    type-budget goes last: its two tsc processes fill both cores alone.
 * 3. `quiet`, one at a time: kafka-rolling asserts that the partitions of the
 *    workers not restarted never go more than 700 ms without output, and
 *    sqlite-recovery-health that every /health answer during recovery takes
 *    under 100 ms; a neighbour's CPU would make those latencies its own.
 * 4. `cluster` alone: three broker JVMs on two cores are the machine's whole
 *    capacity, and its broker-loss scenario measures a stall that anything
 *    running beside it would lengthen.
 */
const kafkaSetup = ['packages/kafka/test/global-setup.ts']
/** Files that assert on latency (an output gap, an HTTP answer time): they run with nothing beside them. */
const quiet = ['test/e2e/kafka-rolling.test.ts', 'test/e2e/sqlite-recovery-health.test.ts']
const cluster = 'test/e2e/kafka-cluster.test.ts'

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // One process for the project's files: each would otherwise pay ~1.5 s of start-up and
          // imports (tests restore what they change: env variables, and nothing global else).
          isolate: false,
          include: ['packages/core/src/**/*.test.ts', 'packages/core/test/**/*.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'kafka',
          include: ['packages/kafka/test/**/*.test.ts', 'test/e2e/kafka-*.test.ts'],
          exclude: [...quiet, cluster],
          globalSetup: kafkaSetup,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
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
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/sqlite-*.test.ts', 'test/package/**/*.test.ts'],
          exclude: quiet,
          setupFiles: ['test/e2e/teardown.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'quiet',
          include: quiet,
          globalSetup: kafkaSetup,
          setupFiles: ['test/e2e/teardown.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: [cluster],
          // For the shared broker's address only (its helpers read it); the file starts its own cluster.
          globalSetup: kafkaSetup,
          maxWorkers: 1,
          sequence: { groupOrder: 4 },
        },
      },
    ],
  },
})
