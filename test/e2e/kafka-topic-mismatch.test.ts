/**
 * A declared partition count that disagrees with an existing Kafka topic:
 * `stream-app run` refuses it with one line naming the topic and both counts,
 * and exits 1 (it must not keep running, nor hang on its open connections).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { COUNTER_APP, cliAsync, openBroker, tempDir, uniq } from './kafka-helpers.ts'

const dir = tempDir('kafka-mismatch')
afterAll(() => dir.remove())

/** stderr without blank lines. */
const errLines = (err: string) => err.split('\n').filter((l) => l.trim() !== '')

describe('kafka://: topics that already exist', () => {
  it('refuses to run when an existing topic has another partition count than declared, naming it', async () => {
    const id = uniq('mismatch')
    const broker = await openBroker()
    try {
      await broker.ensureTopics([{ name: `${id}-events`, partitions: 3 }])
    } finally {
      await broker.close()
    }
    const r = await cliAsync(['run', COUNTER_APP, '--web-port', '0', '--datadir', `${dir.path}/mm`], {
      env: { E2E_ID: id, E2E_PARTITIONS: '4' },
      cwd: dir.path,
      timeoutMs: 30_000,
    })
    expect(r.code).toBe(1)
    expect(errLines(r.err), r.err).toHaveLength(1)
    expect(r.err.trim()).toBe(
      `stream-app: topic '${id}-events' exists on Kafka with 3 partitions, but 4 are declared; declare partitions: 3 or use a new topic`,
    )
  }, 60_000)
})
