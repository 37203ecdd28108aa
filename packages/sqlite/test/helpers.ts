/**
 * Test helpers: temp directories that are removed afterwards, and running a
 * fixture script in a real child `node` process through tsx.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { StoreRow, TableStore } from '@stream-app/core'
import { afterEach } from 'vitest'

/** Every row of the given partitions, read through scan() in pages of `pageSize`. */
export const rowsOf = (t: TableStore, partitions: readonly number[], pageSize = 1000): StoreRow[] =>
  partitions.flatMap((p) => [...t.scan(p, pageSize)].flat())

const dirs: string[] = []

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stream-app-sqlite-'))
  dirs.push(d)
  return d
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** Starts `node --import tsx fixtures/<name> ...args`; stdout lines are collected. */
export function spawnFixture(name: string, args: readonly string[]): ChildProcess & { lines: string[] } {
  const child = spawn(process.execPath, ['--import', tsx, fixture(name), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcess & { lines: string[] }
  child.lines = []
  let buf = ''
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8')
    let i = buf.indexOf('\n')
    while (i >= 0) {
      child.lines.push(buf.slice(0, i))
      buf = buf.slice(i + 1)
      i = buf.indexOf('\n')
    }
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8')
  })
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`fixture ${name} exited ${code}: ${err}\n`)
  })
  return child
}

/** Resolves with the first stdout line matching `pred` (rejects if the child exits first). */
export function waitForLine(
  child: ChildProcess & { lines: string[] },
  pred: (line: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const l = child.lines.find(pred)
      if (l !== undefined) {
        cleanup()
        resolve(l)
      }
    }
    const onExit = (code: number | null) => {
      check()
      cleanup()
      reject(
        new Error(
          `child exited (${code}) before printing the expected line; got: ${child.lines.join(' | ')}`,
        ),
      )
    }
    const cleanup = () => {
      child.stdout!.off('data', onData)
      child.off('exit', onExit)
    }
    const onData = () => setImmediate(check)
    child.stdout!.on('data', onData)
    child.on('exit', onExit)
    check()
  })
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

export const bytes = (s: string) => Buffer.from(s, 'utf8')
export const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('utf8'))
