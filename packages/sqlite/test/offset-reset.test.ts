/**
 * autoOffsetReset on the sqlite:// broker (issue 23): a new group with
 * 'latest' starts at the end as of its assignment, one with 'earliest' (the
 * default) at the beginning.
 */
import { join } from 'node:path'
import { createApp, Schema } from '@stream-app/core'
import { MemoryStore, makeLogger, resolveConfig, startRuntime } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { openSqliteBroker } from '../src/index.ts'
import { bytes, tempDir } from './helpers.ts'

describe('autoOffsetReset on sqlite://', () => {
  it("'latest' skips what was there before the group's first assignment; 'earliest' reads it", async () => {
    const path = join(tempDir(), 'broker.sqlite')
    const setup = openSqliteBroker({ path, maintenanceIntervalMs: 0 })
    await setup.ensureTopics([{ name: 'events', partitions: 2 }])
    await setup.producer().send(
      [0, 1].map((p) => ({
        topic: 'events',
        partition: p,
        key: null,
        value: bytes(JSON.stringify(`old${p}`)),
        timestamp: Date.now(),
      })),
    )
    await setup.close()
    const seen: string[] = []
    const start = (id: string, reset: 'earliest' | 'latest') => {
      const def = createApp({ id, autoOffsetReset: reset })
        .topic('events', { value: Schema.String })
        .agent('see', { from: 'events' }, async (values) => {
          for await (const v of values) seen.push(`${id}:${v}`)
        }).definition
      return startRuntime(def, {
        broker: openSqliteBroker({ path, maintenanceIntervalMs: 0 }),
        store: new MemoryStore(),
        log: makeLogger({ level: 'warn', name: id }),
        config: resolveConfig(def.config, {
          broker: `sqlite://${path}`,
          store: 'memory://',
          web: { enabled: false },
        }),
        closeBroker: true,
      })
    }
    const late = await start('late', 'latest')
    const early = await start('early', 'earliest')
    try {
      await late.topicHandles.events!.send('new', { partition: 1 })
      await late.idle()
      await early.idle()
      expect(seen.filter((s) => s.startsWith('late:'))).toEqual(['late:new'])
      expect(seen.filter((s) => s.startsWith('early:')).sort()).toEqual([
        'early:new',
        'early:old0',
        'early:old1',
      ])
    } finally {
      await late.stop()
      await early.stop()
    }
  })
})
