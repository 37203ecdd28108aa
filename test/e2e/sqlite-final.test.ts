/**
 * Final window results survive a crash between the window closing and the
 * result being committed (the Faust bug robinhood/faust#514): a real worker
 * process on sqlite:// under exactly_once sees the event that closes a minute,
 * emits its total, and is SIGKILLed before any commit. Nothing was written; a
 * new worker replays the events, closes the minute again and emits it once.
 */
import { describe, expect, it } from 'vitest'
import { openSqliteBroker } from '../../packages/sqlite/src/index.ts'
import { recentMinute, startWorker } from './proc.ts'
import { brokerFile, fixture, readTopic, tempDir } from './sqlite-helpers.ts'

const APP = fixture('sqlite-final.ts')
const T0 = recentMinute()

describe('final window results across a crash', { timeout: 90_000 }, () => {
  it('a SIGKILL after the window closed: the next worker emits it, exactly once', async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    await a.url()
    const broker = openSqliteBroker({ path: brokerFile(dir), maintenanceIntervalMs: 0 })
    const producer = broker.producer()
    const click = (sec: number) =>
      producer.send([
        {
          topic: 'clicks',
          partition: 0,
          key: Buffer.from('ann'),
          value: Buffer.from('1'),
          timestamp: T0 + sec * 1000,
        },
      ])
    try {
      for (const sec of [0, 30, 71]) await click(sec)
      await a.waitFor(new RegExp(`counted ${T0 + 71_000}`))
      await a.kill() // the minute closed and its total was emitted, held for a commit that never came
      expect(await readTopic(brokerFile(dir), 'minute-totals')).toEqual([])

      const b = startWorker(['run', APP], {}, dir)
      await b.waitFor(new RegExp(`counted ${T0 + 71_000}`))
      expect(await b.stop()).toBe(0) // commits
      const totals = await readTopic(brokerFile(dir), 'minute-totals')
      expect(totals.map((r) => [r.key, r.value])).toEqual([
        ['ann', { start: T0, end: T0 + 60_000, value: 2 }],
      ])
    } finally {
      await producer.close()
      await broker.close()
    }
  })
})
