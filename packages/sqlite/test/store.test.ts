/**
 * The sqlite:// table store on real files: rows and offsets survive reopening,
 * apply is atomic with its offsets, transactions roll back, partitions drop.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { StoreError } from '@stream-app/core'
import { describe, expect, it } from 'vitest'
import { openSqliteStore } from '../src/index.ts'
import { rowsOf, tempDir } from './helpers.ts'

const sorted = <T extends { partition: number; key: string }>(rows: Iterable<T>) =>
  [...rows].sort((a, b) => a.partition - b.partition || a.key.localeCompare(b.key))

describe('sqlite store', () => {
  it('creates parent directories and is durable', () => {
    const path = join(tempDir(), 'deep', 'er', 'store.sqlite')
    const store = openSqliteStore({ path })
    expect(existsSync(path)).toBe(true)
    expect(store.durable).toBe(true)
    expect(store.url).toBe(`sqlite://${path}`)
    store.close()
  })

  it('applies rows and offsets, loads them back after reopening', () => {
    const path = join(tempDir(), 'store.sqlite')
    let store = openSqliteStore({ path })
    const t = store.table('counts')
    t.apply(
      [
        { partition: 0, key: '"a"', value: '1' },
        { partition: 1, key: '"b"', value: '2' },
        { partition: 0, key: '"c"', value: '3' },
      ],
      new Map([
        [0, 10],
        [1, 5],
      ]),
    )
    t.apply(
      [
        { partition: 0, key: '"a"', value: '7' },
        { partition: 0, key: '"c"', value: undefined },
      ],
      new Map([[0, 12]]),
    )
    // another table in the same file does not see these rows
    store.table('other').apply([{ partition: 0, key: '"a"', value: '"x"' }], new Map([[0, 1]]))
    store.close()

    store = openSqliteStore({ path })
    const again = store.table('counts')
    expect(sorted(rowsOf(again, [0, 1]))).toEqual([
      { partition: 0, key: '"a"', value: '7' },
      { partition: 1, key: '"b"', value: '2' },
    ])
    expect(sorted(rowsOf(again, [1]))).toEqual([{ partition: 1, key: '"b"', value: '2' }])
    expect(again.persistedOffsets([0, 1, 2])).toEqual(
      new Map([
        [0, 12],
        [1, 5],
      ]),
    )
    expect(rowsOf(store.table('other'), [0])).toEqual([{ partition: 0, key: '"a"', value: '"x"' }])
    store.close()
  })

  it('drops partitions (rows and offsets)', () => {
    const store = openSqliteStore({ path: join(tempDir(), 's.sqlite') })
    const t = store.table('t')
    t.apply(
      [
        { partition: 0, key: 'a', value: '1' },
        { partition: 1, key: 'b', value: '2' },
        { partition: 2, key: 'c', value: '3' },
      ],
      new Map([
        [0, 1],
        [1, 1],
        [2, 1],
      ]),
    )
    t.dropPartitions([0, 2])
    expect(sorted(rowsOf(t, [0, 1, 2]))).toEqual([{ partition: 1, key: 'b', value: '2' }])
    expect(t.persistedOffsets([0, 1, 2])).toEqual(new Map([[1, 1]]))
    store.close()
  })

  it('rolls back everything when the function inside transaction throws', () => {
    const path = join(tempDir(), 's.sqlite')
    const store = openSqliteStore({ path })
    const a = store.table('a')
    const b = store.table('b')
    a.apply([{ partition: 0, key: 'k', value: 'before' }], new Map([[0, 1]]))
    expect(() =>
      store.transaction(() => {
        a.apply([{ partition: 0, key: 'k', value: 'after' }], new Map([[0, 2]]))
        b.apply([{ partition: 3, key: 'x', value: 'y' }], new Map([[3, 9]]))
        // nested transactions are savepoints inside the outer one
        store.transaction(() => b.apply([{ partition: 4, key: 'z', value: 'w' }], new Map()))
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(rowsOf(a, [0])).toEqual([{ partition: 0, key: 'k', value: 'before' }])
    expect(a.persistedOffsets([0])).toEqual(new Map([[0, 1]]))
    expect(rowsOf(b, [3, 4])).toEqual([])
    expect(b.persistedOffsets([3])).toEqual(new Map())
    store.close()
    // and nothing of it reached the file
    const reopened = openSqliteStore({ path })
    expect(rowsOf(reopened.table('b'), [3, 4])).toEqual([])
    reopened.close()
  })

  it('commits a transaction across tables as one', () => {
    const store = openSqliteStore({ path: join(tempDir(), 's.sqlite') })
    const out = store.transaction(() => {
      store.table('a').apply([{ partition: 0, key: 'k', value: '1' }], new Map([[0, 1]]))
      store.table('b').apply([{ partition: 0, key: 'k', value: '2' }], new Map([[0, 1]]))
      return 42
    })
    expect(out).toBe(42)
    expect(rowsOf(store.table('b'), [0])).toEqual([{ partition: 0, key: 'k', value: '2' }])
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

  it('scans a partition a page at a time, in key order, holding no statement open between pages', () => {
    const store = openSqliteStore({ path: join(tempDir(), 's.sqlite') })
    const t = store.table('paged')
    const keys = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}`)
    t.apply(
      keys.map((key) => ({ partition: 2, key, value: '1' })),
      new Map(),
    )
    t.apply([{ partition: 3, key: 'other', value: '1' }], new Map())
    const pages: string[][] = []
    for (const page of t.scan(2, 7)) {
      pages.push(page.map((r) => r.key))
      // The store can be written between pages (a commit of another partition while recovering).
      t.apply([{ partition: 3, key: `w${pages.length}`, value: '2' }], new Map())
    }
    expect(pages.map((p) => p.length)).toEqual([...Array(14).fill(7), 2])
    expect(pages.flat()).toEqual(keys)
    expect([...t.scan(9, 7)]).toEqual([])
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
