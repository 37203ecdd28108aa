/**
 * Every e2e test file: workers a test started and did not stop (its
 * expectation failed before the stop) are killed when the file's tests end,
 * so none outlives the run.
 */
import { afterAll } from 'vitest'
import { killAll } from './proc.ts'

afterAll(killAll)
