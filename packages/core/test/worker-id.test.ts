/**
 * A worker's stable identity: given ids are checked, an id kept in the
 * datadir is the same across starts, and a datadir another live process holds
 * gives none (two processes must never be one group member).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/runtime/config.ts'
import { workerIdentity } from '../src/runtime/worker-id.ts'

const root = mkdtempSync(join(tmpdir(), 'worker-id-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const said: string[] = []
const log = {
  debug: () => {},
  info: (m: string) => said.push(m),
  warn: (m: string) => said.push(m),
  error: (m: string) => said.push(m),
}

describe('worker identity', () => {
  it('is kept in the datadir: the same across starts, and none is written where nothing keeps it', () => {
    const config = resolveConfig({ id: 'shop', datadir: join(root, 'a') })
    const first = workerIdentity(config, true, log)
    expect(first).toMatch(/^shop-[0-9a-f]{12}$/)
    expect(readFileSync(join(root, 'a', 'worker-id'), 'utf8').trim()).toBe(first)
    expect(workerIdentity(config, true, log)).toBe(first)
    // Another datadir, another worker.
    expect(workerIdentity(resolveConfig({ id: 'shop', datadir: join(root, 'b') }), true, log)).not.toBe(first)
    // A broker that does not recognise returning members: nothing kept, nothing written.
    expect(
      workerIdentity(resolveConfig({ id: 'shop', datadir: join(root, 'c') }), false, log),
    ).toBeUndefined()
    expect(() => readFileSync(join(root, 'c', 'worker-id'))).toThrow()
  })

  it('a given id wins (flag, then environment, then code) and is checked', () => {
    const d = join(root, 'given')
    expect(workerIdentity(resolveConfig({ id: 'x', datadir: d, workerId: 'from-code' }), true, log)).toBe(
      'from-code',
    )
    process.env.STREAM_APP_WORKER_ID = 'from-env'
    try {
      expect(workerIdentity(resolveConfig({ id: 'x', datadir: d, workerId: 'from-code' }), true, log)).toBe(
        'from-env',
      )
      const flagged = resolveConfig({ id: 'x', datadir: d }, { workerId: 'orders-2' })
      expect(workerIdentity(flagged, true, log)).toBe('orders-2')
    } finally {
      delete process.env.STREAM_APP_WORKER_ID
    }
    expect(() => workerIdentity(resolveConfig({ id: 'x', workerId: 'has space' }), true, log)).toThrow(
      /workerId must be 1-200 characters of \[A-Za-z0-9._:-\], got "has space"/,
    )
  })

  it('a datadir another live process holds gives no identity; a dead holder is taken over', async () => {
    const d = join(root, 'held')
    const config = resolveConfig({ id: 'shop', datadir: d })
    const kept = workerIdentity(config, true, log)
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    try {
      writeFileSync(join(d, 'worker.pid'), `${other.pid}\n`)
      expect(workerIdentity(config, true, log)).toBeUndefined()
      expect(said.at(-1)).toMatch(
        new RegExp(`datadir .* is in use by process ${other.pid}: this worker has no stable identity`),
      )
    } finally {
      other.kill('SIGKILL')
      await new Promise((r) => other.once('exit', r))
    }
    expect(workerIdentity(config, true, log)).toBe(kept)
  })
})
