/**
 * Every file of the e2e project: workers a test started and did not stop (its
 * expectation failed before the stop) are killed when the file's tests end,
 * so none outlives the run. (The kafka project's files kill theirs in their
 * own afterAll, before removing their directories.)
 */
import { afterAll } from 'vitest'
import { killAll } from './proc.ts'

afterAll(killAll)
