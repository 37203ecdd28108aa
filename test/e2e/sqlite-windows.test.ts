/**
 * Windowed tables across restarts on sqlite://: per-window values (tumbling
 * and hopping, with expiry) are the same after a clean restart (from the
 * store) and after a SIGKILL once everything was committed followed by
 * `stream-app reset` (rebuilt from the changelog) — and equal to what the
 * events' timestamps say. Events older than the expiry never show up.
 */
import { describe, expect, it } from 'vitest'
import { cli, startWorker, type WorkerProcess } from './proc.ts'
import { allCommitted, fixture, getJson, logsOf, tempDir, until } from './sqlite-helpers.ts'

const WINDOWS = fixture('sqlite-windows.ts')
const USERS = ['u0', 'u1', 'u2']
const MINUTE = 60_000
const STEP = 7_000

interface Window {
  readonly start: number
  readonly end: number
  readonly value: number
}
interface Windows {
  readonly perMinute: Window[]
  readonly per2m: Window[]
}

/** What the fixture's windows must hold for clicks i in [0, n) sent by `produce --base base`. */
function expected(base: number, n: number): Record<string, Windows> {
  const out: Record<string, { perMinute: Map<number, number>; per2m: Map<number, number> }> = {}
  for (const u of USERS) out[u] = { perMinute: new Map(), per2m: new Map() }
  for (let i = 0; i < n; i++) {
    const ts = base + i * STEP
    const w = out[`u${i % 3}`]!
    const m = Math.floor(ts / MINUTE) * MINUTE
    w.perMinute.set(m, (w.perMinute.get(m) ?? 0) + (i % 5) + 1)
    // 2-minute windows every minute: the one starting this minute and the one before
    for (const s of [m - MINUTE, m]) w.per2m.set(s, (w.per2m.get(s) ?? 0) + (i % 5) + 1)
  }
  const list = (m: Map<number, number>, size: number) =>
    [...m].sort((a, b) => a[0] - b[0]).map(([start, value]) => ({ start, end: start + size, value }))
  return Object.fromEntries(
    Object.entries(out).map(([u, w]) => [
      u,
      { perMinute: list(w.perMinute, MINUTE), per2m: list(w.per2m, 2 * MINUTE) },
    ]),
  )
}

async function windowsOf(w: WorkerProcess): Promise<Record<string, Windows>> {
  const url = await w.url()
  const out: Record<string, Windows> = {}
  for (const u of USERS) out[u] = (await getJson<Windows>(`${url}/windows/${u}`)).body
  return out
}

function produce(dir: string, base: number, from: number, n: number, stale = 0) {
  const r = cli(
    [
      'produce',
      WINDOWS,
      ...['--base', String(base), '--from', String(from), '--n', String(n)],
      ...['--step', String(STEP), '--stale', String(stale)],
    ],
    { cwd: dir },
  )
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
}

describe('windowed tables across restarts on sqlite://', { timeout: 90_000 }, () => {
  it('keep every window through a clean restart (store) and a SIGKILL then reset (changelog)', async () => {
    const dir = tempDir()
    // 30 minutes ago, on a whole minute: 200 clicks 7 s apart span ~23 minutes, all within the 1 h expiry
    const base = Math.floor((Date.now() - 30 * MINUTE) / MINUTE) * MINUTE
    // and 6 clicks three hours old: their windows expired long ago, they must never show up
    produce(dir, base, 0, 200, 6)
    const start = () => startWorker(['run', WINDOWS], {}, dir)
    const committed = (w: WorkerProcess, total: number) =>
      allCommitted(w, total, { topic: 'clicks', partitions: 2 })

    const w1 = start()
    await committed(w1, 206)
    const want = expected(base, 200)
    const before = await until(
      'the windows of 200 clicks',
      async () => {
        const got = await windowsOf(w1)
        return JSON.stringify(got) === JSON.stringify(want) ? got : undefined
      },
      { context: logsOf(w1) },
    )
    expect(before).toEqual(want)
    expect(before.u0!.perMinute.length).toBeGreaterThan(20)
    expect(await w1.stop()).toBe(0)

    // clean restart: from the store
    const w2 = start()
    await committed(w2, 206)
    expect(await windowsOf(w2)).toEqual(before)

    // more clicks, all committed, then SIGKILL
    produce(dir, base, 200, 60)
    await committed(w2, 266)
    const want2 = expected(base, 260)
    await until(
      'the windows of 260 clicks',
      async () => JSON.stringify(await windowsOf(w2)) === JSON.stringify(want2),
      {
        context: logsOf(w2),
      },
    )
    await w2.kill()

    // and without the store: every window comes back from the changelog
    expect(cli(['reset', WINDOWS], { cwd: dir }).code).toBe(0)
    const w3 = start()
    await committed(w3, 266)
    await w3.waitFor(/recovery finished/)
    expect(await windowsOf(w3)).toEqual(want2)
    expect((await getJson<{ processed: number }>(`${await w3.url()}/progress`)).body.processed).toBe(0)
    expect(await w3.stop()).toBe(0)
  })
})
