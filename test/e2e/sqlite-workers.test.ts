/**
 * Two `stream-app run` processes of one app on one machine (one broker file,
 * one store file): they split the partitions (co-partitioned, p mod 2), each
 * message is processed exactly once across both and a partition is never
 * worked on by both; a joining worker gets the table state built by the other;
 * when one is SIGKILLed, the survivor takes over its partitions and finishes.
 */
import { describe, expect, it } from 'vitest'
import { startWorker } from './proc.ts'
import {
  allCommitted,
  brokerFile,
  COUNTER,
  caughtUp,
  countsOf,
  keyNames,
  logsOf,
  processedAtLeast,
  produceNumbers,
  progress,
  range,
  readSeen,
  type Seen,
  tally,
  tempDir,
  until,
} from './sqlite-helpers.ts'

const KEYS = 20 // 7, 7, 4 and 2 keys on partitions 0-3
const KEY_NAMES = keyNames(KEYS)

/** For each input partition, the pids that processed it, in input offset order, runs collapsed. */
function owners(seen: readonly Seen[]): Map<number, number[]> {
  const out = new Map<number, number[]>()
  for (const s of [...seen].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const l = out.get(s.partition) ?? []
    if (l[l.length - 1] !== s.pid) l.push(s.pid)
    out.set(s.partition, l)
  }
  return out
}

// Real processes on a shared 2-core machine: generous bounds, typical runs are far below.
describe('two workers of one app on one machine', { timeout: 90_000 }, () => {
  it('share partitions, process each message once, and the survivor of a SIGKILL takes over', async () => {
    const dir = tempDir()
    // 3 ms a message: slower than the producer, so B is killed with work left on its partitions
    const env = { E2E_DELAY_MS: '3' }
    const produce = (from: number, n: number) => produceNumbers(dir, from, n, KEYS)

    // phase 0: A alone builds table state on every partition
    const a = startWorker(['run', COUNTER], env, dir)
    const ua = await a.url()
    produce(0, 1000)
    await allCommitted(a, 1000)

    // phase 1: B joins; A gives up half (after committing), B recovers that half's state
    const b = startWorker(['run', COUNTER], env, dir)
    const ub = await b.url()
    const ctx = { context: logsOf(a, b), timeoutMs: 45_000 }
    await a.waitFor(/partitions revoked partitions="[^"]*numbers\[1,3\]/)
    expect(b.log()).toMatch(/partitions assigned partitions="[^"]*numbers\[1,3\]/)
    produce(1000, 1000)
    await until(
      'both workers to commit phase 1',
      async () => {
        const [pa, pb] = [await caughtUp(ua, 'numbers'), await caughtUp(ub, 'numbers')]
        return pa && pb && pa.size === 2 && pb.size === 2 && sum(pa) + sum(pb) === 2000
      },
      ctx,
    )
    // each key counted exactly once per message: 100, asked of either worker (queries go to the
    // key's owner, learnt from the group shortly after the rebalance)
    const hundred = JSON.stringify(Object.fromEntries(KEY_NAMES.map((k) => [k, 100])))
    for (const url of [ua, ub])
      await until(
        `counts of 100 through ${url}`,
        async () => JSON.stringify(await countsOf(url, KEY_NAMES)) === hundred,
        ctx,
      )
    const bPhase1 = await progress(ub)
    expect(bPhase1).toBeGreaterThan(0)

    // phase 2: B is killed mid-stream; A takes over partitions 1 and 3 and finishes
    produce(2000, 2000)
    await processedAtLeast(b, bPhase1 + 300)
    await b.kill()
    // (A's first assignment was numbers[0,1,2,3]; this one is B's half only)
    await a.waitFor(/partitions assigned partitions="[^"]*numbers\[1,3\]/, 30_000)
    expect(a.log()).toMatch(new RegExp(`member \\S+-${b.pid}-\\S+ \\(pid ${b.pid}\\) is gone`))
    await allCommitted(a, 4000, { others: [b] })
    const counts = await countsOf(ua, KEY_NAMES)
    expect(await a.stop()).toBe(0)

    const seen = await readSeen(brokerFile(dir))
    const t = tally(seen.map((s) => s.n))
    expect(
      range(0, 4000).filter((n) => !t.has(n)),
      'lost',
    ).toEqual([])
    expect(seen.every((s) => s.pid === a.pid || s.pid === b.pid)).toBe(true)
    const before = seen.filter((s) => s.n < 2000)
    // phases 0 and 1, no crash: exactly once, and per partition one owner after another, never back and forth
    expect(before).toHaveLength(2000)
    expect(tally(before.map((s) => s.n)).size).toBe(2000)
    const own = owners(before)
    expect(own.get(0)).toEqual([a.pid])
    expect(own.get(2)).toEqual([a.pid])
    expect(own.get(1)).toEqual([a.pid, b.pid])
    expect(own.get(3)).toEqual([a.pid, b.pid])

    // phase 2: A's own partitions exactly once; B's: B's prefix, then A from B's last commit on
    const after = seen.filter((s) => s.n >= 2000)
    for (const p of [0, 2]) {
      const mine = after.filter((s) => s.partition === p)
      expect(new Set(mine.map((s) => s.pid))).toEqual(new Set([a.pid]))
      expect(tally(mine.map((s) => s.offset)).size).toBe(mine.length)
    }
    for (const p of [1, 3]) {
      const byB = after.filter((s) => s.partition === p && s.pid === b.pid).map((s) => s.offset)
      const byA = after.filter((s) => s.partition === p && s.pid === a.pid).map((s) => s.offset)
      expect(contiguous(byB), `partition ${p} by B`).toBe(true)
      expect(contiguous(byA), `partition ${p} by A`).toBe(true)
      // the survivor did finish B's partition
      expect(byA.length, `partition ${p} taken over by A`).toBeGreaterThan(0)
      if (byB.length && byA.length) expect(Math.min(...byA)).toBeLessThanOrEqual(Math.max(...byB) + 1)
    }
    // A never crashed: the keys of its partitions are exact; B's at least right (at-least-once)
    const partitionOfKey = new Map(seen.map((s) => [`k${s.n % KEYS}`, s.partition]))
    for (const k of KEY_NAMES) {
      if ([0, 2].includes(partitionOfKey.get(k)!)) expect(counts[k], k).toBe(200)
      else expect(counts[k], k).toBeGreaterThanOrEqual(200)
    }
    const redone = seen.length - 4000
    console.info(
      `two workers: B (killed) processed ${bPhase1} in phase 1; ${redone} redone by A after the kill`,
    )
  })
})

const sum = (m: Map<number, number>) => [...m.values()].reduce((x, y) => x + y, 0)

/** True if the offsets are distinct and consecutive. */
function contiguous(offsets: readonly number[]): boolean {
  if (!offsets.length) return true
  const s = [...offsets].sort((x, y) => x - y)
  return s.every((o, i) => o === s[0]! + i)
}
