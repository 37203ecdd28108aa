/**
 * stream-app loads this package by name at run time, typed by its own
 * KafkaAdapter (so type-checking an app never reads this package or the native
 * client's types): this assignment, type-checked with the workspace, keeps the
 * two in step.
 */
import type { KafkaAdapter } from '../../stream-app/src/adapters.ts'
import * as kafka from '../src/index.ts'

export const adapter: KafkaAdapter = kafka
