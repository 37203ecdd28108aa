/**
 * The app's lifecycle in real `stream-app run` processes on sqlite://: the
 * rebalance hooks of two workers name the partitions that moved, a cron job
 * with onLeader runs on one of them each time, a SIGTERM runs 'stopping', ends
 * the agents and then stops the services in reverse, and an agent under
 * supervisor 'crash' stops its worker with a non-zero exit and the reason.
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker, type WorkerProcess } from './proc.ts'
import { fixture, logsOf, tempDir, until } from './sqlite-helpers.ts'

const APP = fixture('sqlite-lifecycle.ts')

/** The `lc …` lines of a worker's log, without the logger's prefix. */
const lines = (w: WorkerProcess) => w.log().match(/lc [^\n"]*/g) ?? []
/** The seconds a cron job of this worker ran in. */
const ticks = (w: WorkerProcess, job: string) =>
  new Set(lines(w).flatMap((l) => (l.startsWith(`lc cron ${job} `) ? [Number(l.split(' ')[3])] : [])))
/** Where `line` is in the worker's `lc` lines (-1: absent), for order checks. */
const at = (w: WorkerProcess, line: string | RegExp) =>
  lines(w).findIndex((l) => (typeof line === 'string' ? l === line : line.test(l)))
const heldAfterLast = (w: WorkerProcess) => {
  const hooks = lines(w).filter((l) => / held in\[/.test(l))
  return hooks[hooks.length - 1]?.match(/held in\[([\d,]*)\]/)?.[1]
}

// Real processes on a shared 2-core machine: generous bounds, typical runs are far below.
describe('lifecycle of real workers on sqlite://', { timeout: 120_000 }, () => {
  it('hooks follow a rebalance, cron onLeader runs once, SIGTERM stops services after agents, crash exits', async () => {
    const dir = tempDir()
    const a = startWorker(['run', APP], {}, dir)
    await a.url()
    const ctx = () => ({ context: logsOf(a, b), timeoutMs: 45_000 })
    // services start in declaration order, then the partitions' hook, then ready
    await a.waitFor(/lc assigned in\[0,1,2,3\]/)
    await a.waitFor(/lc ready/)
    expect(at(a, 'lc service db started')).toBe(0)
    expect(at(a, 'lc service cache started after db')).toBe(1)
    expect(at(a, /^lc assigned in\[0,1,2,3\]/)).toBeLessThan(at(a, 'lc ready'))

    // a second worker: the first gives up partitions (its revoke hook names them), the second gets them
    const b = startWorker(['run', APP], {}, dir)
    await b.url()
    const moved = (await b.waitFor(/lc assigned in\[([\d,]+)\]/))[1]!
    await until(
      'the two workers to hold every partition between them',
      () => {
        const [ha, hb] = [heldAfterLast(a), heldAfterLast(b)]
        if (ha === undefined || hb === undefined) return false
        const all = [...ha.split(','), ...hb.split(',')].filter(Boolean).map(Number)
        return all.length === 4 && new Set(all).size === 4 && hb === moved
      },
      ctx(),
    )
    const revoked = lines(a)
      .filter((l) => l.startsWith('lc revoked'))
      .flatMap((l) => l.match(/revoked in\[([\d,]+)\]/)![1]!.split(','))
    for (const p of moved.split(',')) expect(revoked, logsOf(a, b)()).toContain(p)
    expect(moved.split(',')).toHaveLength(2)

    // both run their every-worker cron job; the leader's job runs on exactly one of them each second
    const since = Math.floor(Date.now() / 1000) + 1
    const both = () => [...ticks(a, 'all')].filter((s) => s >= since && ticks(b, 'all').has(s))
    await until('three seconds in which both workers ran their cron jobs', () => both().length >= 3, ctx())
    for (const s of both().slice(0, -1)) {
      // the last second's leader run may still be on its way to the log
      const leaders = [ticks(a, 'leader').has(s), ticks(b, 'leader').has(s)].filter(Boolean)
      expect(leaders, `second ${s}\n${logsOf(a, b)()}`).toHaveLength(1)
    }

    // SIGTERM: 'stopping' first, the agents end, then the services stop in reverse; the other worker
    // gets the partitions back
    expect(await b.stop()).toBe(0)
    const order = ['lc stopping', 'lc agent work ended', 'lc service cache stopped', 'lc service db stopped']
    const positions = order.map((l) => at(b, l))
    expect(
      positions.every((p) => p >= 0) && positions.join() === [...positions].sort((x, y) => x - y).join(),
    ).toBe(true)
    expect(lines(b).filter((l) => l.startsWith('lc revoked'))).toEqual([`lc revoked in[${moved}] held in[]`])
    await until('the first worker to hold every partition again', () => heldAfterLast(a) === '0,1,2,3', ctx())

    // supervisor 'crash': a failing record stops the worker, non-zero, with the reason in its log
    const sent = cli(['send', APP, 'boom', '7'], { cwd: dir })
    expect(sent.code, sent.err).toBe(0)
    const code = await a.exited()
    expect(code, a.log().slice(-3000)).not.toBe(0)
    expect(a.log()).toMatch(/agent 'fragile' crashed \(supervisor 'crash'\): boom 7/)
    expect(at(a, 'lc service db stopped')).toBeGreaterThan(at(a, 'lc service cache stopped'))
  })
})
