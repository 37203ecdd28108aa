/**
 * The sqlite:// table store file's own behaviour (the Store contract itself is
 * the conformance suite): parent directories, large batches, errors after close.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { StoreError } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { openSqliteStore } from '../src/index.ts'
import { rowsOf, tempDir } from './helpers.ts'

describe('sqlite store', () => {
  it('creates parent directories and is durable', () => {
    const path = join(tempDir(), 'deep', 'er', 'store.sqlite')
    const store = openSqliteStore({ path })
    expect(existsSync(path)).toBe(true)
    expect(store.durable).toBe(true)
    expect(store.url).toBe(`sqlite://${path}`)
    store.close()
  })

  it('applies a large batch (10k changes) in one call', () => {
    const store = openSqliteStore({ path: join(tempDir(), 's.sqlite') })
    const t = store.table('big')
    const changes = Array.from({ length: 10_000 }, (_, i) => ({
      partition: i % 8,
      key: `k${i}`,
      value: String(i),
    }))
    t.apply(changes, new Map([[0, 10_000]]))
    expect(rowsOf(t, [0, 1, 2, 3, 4, 5, 6, 7]).length).toBe(10_000)
    store.close()
  })

  it('fails with a StoreError naming the file after close', () => {
    const path = join(tempDir(), 's.sqlite')
    const store = openSqliteStore({ path })
    const t = store.table('t')
    store.close()
    expect(() => rowsOf(t, [0])).toThrow(StoreError)
    expect(() => rowsOf(t, [0])).toThrow(path)
  })
})
