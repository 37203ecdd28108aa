/**
 * The memory:// adapters run the Broker and Store conformance suites (the
 * contract every adapter passes; see test/conformance).
 */
import { MemoryBroker, MemoryStore } from '../src/runtime/index.ts'
import { brokerConformance, storeConformance } from './conformance/index.ts'

let broker: MemoryBroker | undefined
brokerConformance('memory://', {
  // The first broker opened is the suite's shared one; a case may open (and close) another.
  open: async () => {
    const b = new MemoryBroker()
    broker ??= b
    return b
  },
  // One process is the whole broker: a second "process" is the same object.
  peer: async () => broker!,
  // No transactional producer and no atomic commit: memory:// offers at-least-once only.
  transactions: false,
  atomic: false,
  // No unreachable case: an in-process broker cannot be away.
})

// Not durable: the suite's reopen case is not registered for it.
storeConformance('memory://', { durable: false, create: () => ({ store: new MemoryStore() }) })
