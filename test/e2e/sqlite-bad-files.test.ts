/**
 * Damaged files on sqlite://: a broker or store file that is not a database,
 * or whose pages are damaged, stops `stream-app run` (and `send`) with one
 * clear line naming the file and exit code 1 — never a worker that runs on
 * with missing state — and nothing committed in the other file is lost: the
 * good broker file brings the worker back where it was, and a store rebuilt
 * from the changelog (after `stream-app reset`) has the same table.
 */
import { randomBytes } from 'node:crypto'
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { openSqliteStore } from '../../packages/sqlite/src/index.ts'
import { rowsOf } from '../../packages/sqlite/test/helpers.ts'
import { cli, startWorker } from './proc.ts'
import {
  allCommitted,
  brokerFile,
  COUNTER,
  countsOf,
  keyNames,
  produceNumbers,
  progress,
  readSeen,
  readTopic,
  storeFile,
  tempDir,
} from './sqlite-helpers.ts'

const KEYS = 10
const KEY_NAMES = keyNames(KEYS)
const PAGE = 4096

/** The two kinds of damage: not a database at all, and a database whose pages (all but the header page) are garbage. */
const DAMAGE: Record<string, (good: Buffer) => Buffer> = {
  'not a database': (good) => randomBytes(Math.max(good.length, 16 * PAGE)),
  'damaged pages': (good) => Buffer.concat([good.subarray(0, PAGE), randomBytes(good.length - PAGE)]),
}

function writeDamaged(file: string, good: Buffer, kind: string) {
  for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true })
  writeFileSync(file, DAMAGE[kind]!(good))
}

/** Runs the app once over 200 messages and stops it cleanly; returns the table it built. */
async function prepare(dir: string): Promise<Record<string, number>> {
  produceNumbers(dir, 0, 200, KEYS)
  const w = startWorker(['run', COUNTER], {}, dir)
  await allCommitted(w, 200)
  const counts = await countsOf(await w.url(), KEY_NAMES)
  expect(counts).toEqual(Object.fromEntries(KEY_NAMES.map((k) => [k, 20])))
  expect(await w.stop()).toBe(0)
  return counts
}

/** A worker started on a damaged file must exit 1 having printed exactly one line naming the file. */
async function expectRefused(dir: string, file: string) {
  const w = startWorker(['run', COUNTER], {}, dir)
  const code = await Promise.race([
    w.exited(),
    new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000)),
  ])
  expect(code, `the worker must refuse to start; its log:\n${w.log()}`).toBe(1)
  // Besides the error line only INFO logs may appear (a worker that got as far as the group logs 'stopped').
  const lines = w
    .log()
    .trim()
    .split('\n')
    .filter((l) => !/^\S+Z INFO /.test(l))
  expect(lines, w.log()).toHaveLength(1)
  expect(lines[0]).toContain(file)
  expect(lines[0]).toMatch(/^stream-app: .*corrupt or not a SQLite database/)
}

function storeRows(file: string) {
  const store = openSqliteStore({ path: file })
  try {
    const t = store.table('e2e-counter-counts-changelog')
    return { rows: rowsOf(t, [0, 1, 2, 3]), offsets: [...t.persistedOffsets([0, 1, 2, 3])] }
  } finally {
    store.close()
  }
}

// Real processes on a shared 2-core machine: generous bounds, typical runs are far below.
describe('damaged files on sqlite://', { timeout: 90_000 }, () => {
  // One prepared state (broker and store files of a cleanly stopped worker), copied for each test.
  let template = ''
  let counts: Record<string, number> = {}
  beforeAll(async () => {
    template = tempDir()
    counts = await prepare(template)
  }, 90_000)
  const fresh = () => {
    const dir = tempDir()
    cpSync(join(template, '.stream-app'), join(dir, '.stream-app'), { recursive: true })
    return dir
  }

  for (const kind of Object.keys(DAMAGE)) {
    it(`broker file (${kind}): run and send refuse with one line; the store keeps its rows; the good file resumes`, async () => {
      const dir = fresh()
      const file = brokerFile(dir)
      const store = storeRows(storeFile(dir, 'e2e-counter'))
      expect(store.rows).toHaveLength(KEYS)
      const good = readFileSync(file)
      writeDamaged(file, good, kind)

      await expectRefused(dir, file)
      const send = cli(['send', COUNTER, 'numbers', '1', '--key', 'k1'], { cwd: dir })
      expect(send.code).toBe(1)
      expect(send.err.trim().split('\n')).toHaveLength(1)
      expect(send.err).toContain(file)
      expect(storeRows(storeFile(dir, 'e2e-counter'))).toEqual(store)

      // the good broker file back: the same table, nothing processed again
      writeFileSync(file, good)
      const w = startWorker(['run', COUNTER], {}, dir)
      const url = await w.url()
      await allCommitted(w, 200)
      expect(await countsOf(url, KEY_NAMES)).toEqual(counts)
      expect(await progress(url)).toBe(0)
      expect(await w.stop()).toBe(0)
    })

    it(`store file (${kind}): run refuses with one line; the broker keeps everything; reset rebuilds the table`, async () => {
      const dir = fresh()
      const file = storeFile(dir, 'e2e-counter')
      const broker = brokerFile(dir)
      const changelog = await readTopic(broker, 'e2e-counter-counts-changelog')
      writeDamaged(file, readFileSync(file), kind)

      await expectRefused(dir, file)
      // the broker file still has every input, every output and the changelog
      expect(await readTopic(broker, 'numbers')).toHaveLength(200)
      expect(await readSeen(broker)).toHaveLength(200)
      expect(await readTopic(broker, 'e2e-counter-counts-changelog')).toEqual(changelog)

      // reset drops the damaged store; the table comes back from the changelog, nothing is reprocessed
      const reset = cli(['reset', COUNTER], { cwd: dir })
      expect(reset.code).toBe(0)
      const w = startWorker(['run', COUNTER], {}, dir)
      const url = await w.url()
      await allCommitted(w, 200)
      expect(await countsOf(url, KEY_NAMES)).toEqual(counts)
      expect(await progress(url)).toBe(0)
      expect(await w.stop()).toBe(0)
      expect(await readSeen(broker)).toHaveLength(200)
    })
  }
})
