/**
 * The Store port's conformance suite: rows and the changelog offsets they
 * reflect, paged scans in key order, deletes, dropped partitions,
 * transactions that roll back on a throw, and (for durable stores) data that
 * survives reopening. memory:// and sqlite:// (both its store file and the
 * store inside the sqlite broker) run it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { StoreError } from '../../src/definition/errors.ts'
import type { Store, StoreRow, TableStore } from '../../src/ports/index.ts'
import { expectFailure, failureOf, type StoreConformanceOptions } from './support.ts'

const rowsOf = (t: TableStore, partitions: readonly number[], pageSize = 1000): StoreRow[] =>
  partitions.flatMap((p) => [...t.scan(p, pageSize)].flat())

export function storeConformance(name: string, options: StoreConformanceOptions): void {
  describe(`${name} store conformance`, () => {
    const open: Store[] = []
    const create = () => {
      const made = options.create()
      open.push(made.store)
      return made
    }
    afterEach(() => {
      for (const s of open.splice(0)) s.close()
    })

    it('says whether it is durable as declared', () => {
      expect(create().store.durable).toBe(options.durable)
    })

    it('applies rows and offsets and reads them back; an undefined value deletes; tables are apart', () => {
      const { store } = create()
      const t = store.table('counts')
      expect(rowsOf(t, [0, 1])).toEqual([])
      expect(t.persistedOffsets([0, 1])).toEqual(new Map())
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
          { partition: 0, key: '"never"', value: undefined },
        ],
        new Map([[0, 12]]),
      )
      store.table('other').apply([{ partition: 0, key: '"a"', value: '"x"' }], new Map([[0, 1]]))
      expect(rowsOf(t, [0, 1])).toEqual([
        { partition: 0, key: '"a"', value: '7' },
        { partition: 1, key: '"b"', value: '2' },
      ])
      // Only the partitions asked for, and only those with an offset.
      expect(t.persistedOffsets([0, 1, 2])).toEqual(
        new Map([
          [0, 12],
          [1, 5],
        ]),
      )
      expect(t.persistedOffsets([1])).toEqual(new Map([[1, 5]]))
      expect(rowsOf(store.table('other'), [0, 1])).toEqual([{ partition: 0, key: '"a"', value: '"x"' }])
      // The same table asked for again is the same data.
      expect(rowsOf(store.table('counts'), [1])).toEqual([{ partition: 1, key: '"b"', value: '2' }])
    })

    it('scans one partition a page at a time, in key order, and may be written between pages', () => {
      const { store } = create()
      const t = store.table('paged')
      const keys = Array.from({ length: 100 }, (_, i) => `"k${String(i).padStart(3, '0')}"`)
      // Written out of order: the scan sorts.
      t.apply(
        [...keys].reverse().map((key) => ({ partition: 2, key, value: '1' })),
        new Map(),
      )
      t.apply([{ partition: 3, key: '"other"', value: '1' }], new Map())
      const pages: string[][] = []
      for (const page of t.scan(2, 7)) {
        pages.push(page.map((r) => r.key))
        expect(page.every((r) => r.partition === 2 && r.value === '1')).toBe(true)
        // A commit of another partition while a partition is recovered.
        t.apply([{ partition: 3, key: `"w${pages.length}"`, value: '2' }], new Map())
      }
      expect(pages.map((p) => p.length)).toEqual([...Array(14).fill(7), 2])
      expect(pages.flat()).toEqual(keys)
      expect([...t.scan(9, 7)]).toEqual([])
      expect(rowsOf(t, [3]).length).toBe(16)
    })

    it('drops partitions: their rows and offsets, and nothing else', () => {
      const { store } = create()
      const t = store.table('t')
      const other = store.table('o')
      t.apply(
        [0, 1, 2].map((p) => ({ partition: p, key: `"k${p}"`, value: String(p) })),
        new Map([
          [0, 1],
          [1, 1],
          [2, 1],
        ]),
      )
      other.apply([{ partition: 0, key: '"k"', value: '1' }], new Map([[0, 3]]))
      t.dropPartitions([0, 2])
      expect(rowsOf(t, [0, 1, 2])).toEqual([{ partition: 1, key: '"k1"', value: '1' }])
      expect(t.persistedOffsets([0, 1, 2])).toEqual(new Map([[1, 1]]))
      expect(rowsOf(other, [0])).toEqual([{ partition: 0, key: '"k"', value: '1' }])
      expect(other.persistedOffsets([0])).toEqual(new Map([[0, 3]]))
    })

    it('a transaction commits across tables and returns what its function returns', () => {
      const { store } = create()
      const out = store.transaction(() => {
        store.table('a').apply([{ partition: 0, key: '"k"', value: '1' }], new Map([[0, 1]]))
        store.table('b').apply([{ partition: 0, key: '"k"', value: '2' }], new Map([[0, 1]]))
        return 42
      })
      expect(out).toBe(42)
      expect(rowsOf(store.table('a'), [0])).toEqual([{ partition: 0, key: '"k"', value: '1' }])
      expect(rowsOf(store.table('b'), [0])).toEqual([{ partition: 0, key: '"k"', value: '2' }])
    })

    it('a transaction whose function throws changes nothing, in any table, nested ones included', () => {
      const { store } = create()
      const a = store.table('a')
      const b = store.table('b')
      a.apply(
        [
          { partition: 0, key: '"k"', value: '"before"' },
          { partition: 1, key: '"gone"', value: '"kept"' },
        ],
        new Map([
          [0, 1],
          [1, 4],
        ]),
      )
      const failure = new Error('boom')
      expect(() =>
        store.transaction(() => {
          a.apply(
            [
              { partition: 0, key: '"k"', value: '"after"' },
              { partition: 0, key: '"new"', value: '"x"' },
            ],
            new Map([[0, 2]]),
          )
          a.dropPartitions([1])
          b.apply([{ partition: 3, key: '"x"', value: '"y"' }], new Map([[3, 9]]))
          store.transaction(() => b.apply([{ partition: 4, key: '"z"', value: '"w"' }], new Map([[4, 1]])))
          throw failure
        }),
      ).toThrow(failure)
      expect(rowsOf(a, [0, 1])).toEqual([
        { partition: 0, key: '"k"', value: '"before"' },
        { partition: 1, key: '"gone"', value: '"kept"' },
      ])
      expect(a.persistedOffsets([0, 1])).toEqual(
        new Map([
          [0, 1],
          [1, 4],
        ]),
      )
      expect(rowsOf(b, [3, 4])).toEqual([])
      expect(b.persistedOffsets([3, 4])).toEqual(new Map())
      // A nested transaction that throws, caught inside, undoes only its own writes.
      store.transaction(() => {
        a.apply([{ partition: 0, key: '"outer"', value: '1' }], new Map())
        expect(() =>
          store.transaction(() => {
            a.apply([{ partition: 0, key: '"inner"', value: '1' }], new Map([[0, 7]]))
            throw failure
          }),
        ).toThrow(failure)
      })
      expect(rowsOf(a, [0]).map((r) => r.key)).toEqual(['"k"', '"outer"'])
      expect(a.persistedOffsets([0])).toEqual(new Map([[0, 1]]))
    })

    if (options.refusesWhenClosed)
      it('a closed store refuses reads and writes with a StoreError of one line (the Store failure union)', async () => {
        const { store } = create()
        const t = store.table('shut')
        t.apply([{ partition: 0, key: '"a"', value: '1' }], new Map([[0, 1]]))
        store.close()
        const write = await failureOf(() => t.apply([{ partition: 0, key: '"b"', value: '2' }], new Map()))
        expectFailure(write, 'store', 'StoreError')
        expect((write as StoreError).retriable).toBe(false)
        expectFailure(await failureOf(() => t.persistedOffsets([0])), 'store', 'StoreError')
        expectFailure(await failureOf(() => [...t.scan(0, 10)]), 'store', 'StoreError')
      })

    // A store that keeps nothing (memory://) cannot survive reopening; it declares durable: false.
    if (options.durable)
      it('keeps rows and offsets across reopening, and what a failed transaction wrote never reached it', () => {
        const { store, reopen } = create()
        if (!reopen) throw new Error('a durable store must say how to reopen it')
        const t = store.table('kept')
        t.apply(
          [
            { partition: 0, key: '"a"', value: '1' },
            { partition: 5, key: '"b"', value: '2' },
          ],
          new Map([
            [0, 3],
            [5, 8],
          ]),
        )
        expect(() =>
          store.transaction(() => {
            t.apply([{ partition: 0, key: '"a"', value: '99' }], new Map([[0, 4]]))
            throw new Error('boom')
          }),
        ).toThrow('boom')
        store.close()
        const again = reopen()
        open.push(again)
        const t2 = again.table('kept')
        expect(rowsOf(t2, [0, 5])).toEqual([
          { partition: 0, key: '"a"', value: '1' },
          { partition: 5, key: '"b"', value: '2' },
        ])
        expect(t2.persistedOffsets([0, 5])).toEqual(
          new Map([
            [0, 3],
            [5, 8],
          ]),
        )
      })
  })
}
