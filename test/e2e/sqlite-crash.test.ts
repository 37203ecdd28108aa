/**
 * Durable state across crashes on one machine: real `stream-app run` workers
 * on the default sqlite:// broker and store, SIGKILLed mid-stream and
 * restarted. At-least-once must lose nothing; exactly-once must also
 * duplicate nothing (table counts and sink exact); a clean SIGTERM commits
 * what was processed, so a restart redoes nothing.
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker } from './proc.ts'
import {
  allCommitted,
  brokerFile,
  byPid,
  COUNTER,
  countsOf,
  keyNames,
  processedAtLeast,
  produceNumbers,
  progress,
  range,
  readSeen,
  readTopic,
  tally,
  tempDir,
} from './sqlite-helpers.ts'

const KEYS = 20
const KEY_NAMES = keyNames(KEYS)
const each = (n: number) => Object.fromEntries(KEY_NAMES.map((k) => [k, n]))
const produce = (dir: string, from: number, n: number, env: Record<string, string> = {}) =>
  produceNumbers(dir, from, n, KEYS, env)

// Real processes on a shared 2-core machine: generous bounds, typical runs are far below.
describe('crash and restart on sqlite://', { timeout: 90_000 }, () => {
  it('at-least-once: a worker SIGKILLed mid-stream loses nothing once restarted', async () => {
    const dir = tempDir()
    produce(dir, 0, 5000)
    // 1 ms per message: the kill lands mid-stream, after several commits
    const w1 = startWorker(['run', COUNTER], { E2E_DELAY_MS: '1' }, dir)
    const atKill = await processedAtLeast(w1, 1500)
    await w1.kill()
    expect(atKill).toBeLessThan(5000)

    const w2 = startWorker(['run', COUNTER], {}, dir)
    const url = await w2.url()
    await allCommitted(w2, 5000, { others: [w1] })
    const counts = await countsOf(url, KEY_NAMES)
    for (const k of KEY_NAMES) expect(counts[k], k).toBeGreaterThanOrEqual(250)
    expect(await w2.stop()).toBe(0)

    const seen = await readSeen(brokerFile(dir))
    const t = tally(seen.map((s) => s.n))
    const lost = range(0, 5000).filter((n) => !t.has(n))
    expect(lost).toEqual([])
    // each worker processed each message at most once; a duplicate is w1's uncommitted tail redone by w2
    for (const w of [w1, w2]) {
      const mine = tally(byPid(seen, w.pid).map((s) => s.n))
      expect(
        [...mine.values()].every((c) => c === 1),
        `worker ${w.pid} processed something twice`,
      ).toBe(true)
      expect(mine.size).toBeGreaterThan(0)
    }
    expect(seen.every((s) => s.pid === w1.pid || s.pid === w2.pid)).toBe(true)
    const dups = seen.length - 5000
    console.info(`at-least-once crash: killed after ${atKill} processed; ${dups} redone after restart`)
  })

  /**
   * Two SIGKILLs mid-stream, then a third worker finishes; counts, changelog and
   * sink must be exact. `at` is where the handler awaits (see fixtures/sqlite-counter.ts).
   */
  async function exactlyOnceAfterKills(at: 'before' | 'after') {
    const dir = tempDir()
    const env = { E2E_GUARANTEE: 'exactly_once', E2E_DELAY_AT: at }
    produce(dir, 0, 5000, env)
    const w1 = startWorker(['run', COUNTER], { ...env, E2E_DELAY_MS: '1' }, dir)
    await w1.url()
    expect(w1.log()).toMatch(/guarantee=exactly_once/)
    const kill1 = await processedAtLeast(w1, 1200)
    await w1.kill()
    const w2 = startWorker(['run', COUNTER], { ...env, E2E_DELAY_MS: '1' }, dir)
    const kill2 = await processedAtLeast(w2, 1200)
    await w2.kill()
    expect(kill1 + kill2).toBeLessThan(5000)

    const w3 = startWorker(['run', COUNTER], env, dir)
    const url = await w3.url()
    await allCommitted(w3, 5000, { others: [w1, w2] })
    const counts = await countsOf(url, KEY_NAMES)
    expect(await w3.stop()).toBe(0)

    const seen = await readSeen(brokerFile(dir))
    const twice = [...tally(seen.map((s) => s.n))].filter(([, c]) => c > 1).map(([n]) => n)
    const committed = [w1, w2, w3].map((w) => byPid(seen, w.pid).length)
    console.info(
      `exactly-once (await ${at} effects): killed after ${kill1} and ${kill2} processed; committed per worker ${committed.join(', ')}; sink duplicates: ${JSON.stringify(seen.filter((s) => twice.includes(s.n)))}`,
    )
    // the sink: every input exactly once
    expect(twice, 'inputs in the sink more than once').toEqual([])
    expect(seen).toHaveLength(5000)
    expect(new Set(seen.map((s) => `${s.partition}:${s.offset}`)).size).toBe(5000)
    // the table (in memory after recovery, and its changelog): exact
    expect(counts).toEqual(each(250))
    const changelog = await readTopic(brokerFile(dir), 'e2e-counter-counts-changelog')
    expect(Object.fromEntries(changelog.map((r) => [r.key, r.value]))).toEqual(each(250))
    // all three workers committed some of the work
    for (const c of committed) expect(c).toBeGreaterThan(0)
  }

  it('exactly-once: SIGKILLed twice mid-stream, table counts and sink are exact', async () => {
    await exactlyOnceAfterKills('before')
  })

  it('exactly-once: also when the handler awaits after its table update and yield', async () => {
    // A commit can then run while a message is in flight (it is acknowledged only when the
    // handler asks for the next one): its effects must not commit without its offset.
    await exactlyOnceAfterKills('after')
  })

  it('a clean stop (SIGTERM) mid-stream commits what was processed: a restart redoes nothing', async () => {
    const dir = tempDir()
    produce(dir, 0, 2000)
    const w1 = startWorker(['run', COUNTER], { E2E_DELAY_MS: '1' }, dir)
    await processedAtLeast(w1, 500)
    expect(await w1.stop()).toBe(0)
    expect(w1.log()).toMatch(/SIGTERM received: stopping/)

    const w2 = startWorker(['run', COUNTER], {}, dir)
    const url = await w2.url()
    // more, sent while the second worker runs: stdin, one a line, one key
    const more = cli(['send', COUNTER, 'numbers', '--key', 'extra'], {
      cwd: dir,
      input: `${range(2000, 2500).join('\n')}\n`,
    })
    expect(more.code).toBe(0)
    await allCommitted(w2, 2500, { others: [w1] })
    expect(await countsOf(url, [...KEY_NAMES, 'extra'])).toEqual({ ...each(100), extra: 500 })
    expect(await w2.stop()).toBe(0)

    const seen = await readSeen(brokerFile(dir))
    expect(seen).toHaveLength(2500)
    expect(tally(seen.map((s) => s.n)).size).toBe(2500)
    const first = byPid(seen, w1.pid).length
    expect(first).toBeGreaterThanOrEqual(500)
    expect(first).toBeLessThan(2000)

    // a third start with nothing new: state from the store, nothing processed again
    const w3 = startWorker(['run', COUNTER], {}, dir)
    const url3 = await w3.url()
    await allCommitted(w3, 2500)
    expect(await progress(url3)).toBe(0)
    expect(await countsOf(url3, [...KEY_NAMES, 'extra'])).toEqual({ ...each(100), extra: 500 })
    expect(await w3.stop()).toBe(0)
    expect(await readSeen(brokerFile(dir))).toHaveLength(2500)
  })
})
