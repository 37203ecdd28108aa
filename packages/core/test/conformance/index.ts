/**
 * The conformance suites of the Broker and Store ports: one body of tests that
 * every adapter runs from its own package (memory:// here, sqlite:// and
 * kafka:// in theirs). A new broker or store is done when it passes them.
 * Test support only: exported as `@stream-app/core/conformance` in the
 * workspace, never part of the published package.
 *
 * @example
 * brokerConformance('sqlite://', { open, peer, transactions: false, atomic: true })
 */
import { afterAll, afterEach, beforeAll, describe } from 'vitest'
import type { Broker } from '../../src/ports/index.ts'
import { exactlyOnceCases } from './exactly-once.ts'
import { groupCases } from './group.ts'
import { logCases } from './log.ts'
import { rebalanceCases } from './rebalance.ts'
import type { BrokerConformanceOptions, SuiteContext } from './support.ts'

export { storeConformance } from './store.ts'
export type { BrokerConformanceOptions, StoreConformanceOptions } from './support.ts'

/** Registers the broker suite for one adapter (cases run in order, one at a time). */
export function brokerConformance(name: string, options: BrokerConformanceOptions): void {
  describe(`${name} broker conformance`, () => {
    let shared: Broker | undefined
    let peer: Promise<Broker> | undefined
    let cleanups: (() => unknown)[] = []
    const ctx: SuiteContext = {
      options,
      broker: () => {
        if (!shared) throw new Error('the broker did not open')
        return shared
      },
      peer: () => {
        peer ??= options.peer()
        return peer
      },
      track: (c) => {
        cleanups.push(() => c.close())
        return c
      },
      onCleanup: (fn) => void cleanups.push(fn),
    }
    beforeAll(async () => {
      shared = await options.open()
    })
    afterEach(async () => {
      const run = cleanups.reverse()
      cleanups = []
      const failed: unknown[] = []
      for (const fn of run)
        await Promise.resolve()
          .then(fn)
          .catch((e: unknown) => failed.push(e))
      if (failed.length) throw failed[0]
    })
    afterAll(async () => {
      const p = peer && (await peer)
      if (p && p !== shared) await p.close()
      await shared?.close()
    })
    logCases(ctx)
    groupCases(ctx)
    rebalanceCases(ctx)
    exactlyOnceCases(ctx)
  })
}
