/**
 * The order files start in, within each group of the root vitest config: the
 * ones known to take longest first, so that none of them starts last and keeps
 * the run waiting while the other workers are idle; except type-budget, which
 * runs two tsc processes and so keeps both cores busy by itself: it goes last,
 * where it fills the machine alone instead of starving a neighbour (its first
 * neighbour would otherwise be pack-install, the other big CPU user). A clean clone has no vitest
 * cache of durations, so the order cannot come from measurements there; the
 * list below is a hint from past runs (a stale entry only costs order, never a
 * test). Everything else keeps vitest's own order (by project, then by the
 * cached duration or the file size), which keeps the files of a non-isolated
 * project next to each other so they share one process.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/** Longest first, as measured in full runs. */
const LONGEST = [
  'test/package/pack-install.test.ts',
  'test/e2e/kafka-churn.test.ts',
  'test/e2e/kafka-exactly-once.test.ts',
  'test/e2e/kafka-standby.test.ts',
  'packages/stream-app/test/cli-args.test.ts',
  'test/e2e/sqlite-crash.test.ts',
  'packages/kafka/test/conformance.test.ts',
  'test/e2e/kafka-outage.test.ts',
  'test/e2e/kafka-scale.test.ts',
]

/** Started after everything else of their group. */
const LAST = ['packages/stream-app/test/type-budget.test.ts']

const rank = (spec: TestSpecification): number => {
  const path = spec.moduleId.replaceAll('\\', '/')
  const is = (p: string) => path.endsWith(`/${p}`)
  if (LAST.some(is)) return LONGEST.length + 1
  const i = LONGEST.findIndex(is)
  return i === -1 ? LONGEST.length : i
}

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const at = new Map(sorted.map((s, i) => [s, i]))
    return sorted.sort(
      (a, b) =>
        a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder ||
        rank(a) - rank(b) ||
        at.get(a)! - at.get(b)!,
    )
  }
}
