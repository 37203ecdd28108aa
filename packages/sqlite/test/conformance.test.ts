/**
 * The sqlite:// adapters run the Broker and Store conformance suites: the
 * broker on one file with a second handle on it (as a second process would
 * open it), the store file, and the store inside the broker's own database.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brokerConformance, storeConformance } from '@stream-app/core/conformance'
import { afterAll } from 'vitest'
import { openSqliteBroker, openSqliteStore, type SqliteBroker } from '../src/index.ts'

// One directory for the file (helpers' tempDir is emptied after each test; the suite's broker outlives one).
const dir = mkdtempSync(join(tmpdir(), 'stream-app-conformance-'))
let n = 0
const fresh = (name: string) => join(dir, `${n++}-${name}`)
const brokers: SqliteBroker[] = []
const openBroker = (path: string) => {
  const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, heartbeatMs: 100 })
  brokers.push(b)
  return b
}
afterAll(async () => {
  for (const b of brokers) await b.close()
  rmSync(dir, { recursive: true, force: true })
})

const path = fresh('broker.sqlite')
brokerConformance('sqlite://', {
  open: async () => openBroker(path),
  peer: async () => openBroker(path),
  // No transactional producer: exactly-once on sqlite:// is the atomic commit.
  transactions: false,
  atomic: true,
  // The file cannot be reached: where its directory should be is a regular file.
  unreachable: async () => {
    const notADir = fresh('not-a-dir')
    writeFileSync(notADir, '')
    return openSqliteBroker({ path: join(notADir, 'broker.sqlite') })
  },
})

storeConformance('sqlite:// store file', {
  durable: true,
  refusesWhenClosed: true,
  create: () => {
    const file = fresh('store.sqlite')
    return { store: openSqliteStore({ path: file }), reopen: () => openSqliteStore({ path: file }) }
  },
})

storeConformance("sqlite:// broker's atomic store", {
  durable: true,
  refusesWhenClosed: true,
  create: () => {
    const file = fresh('atomic.sqlite')
    return { store: openBroker(file).atomic.store(), reopen: () => openBroker(file).atomic.store() }
  },
})
