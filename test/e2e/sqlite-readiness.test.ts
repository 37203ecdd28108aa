/**
 * Readiness across two `stream-app run` processes on the sqlite:// broker, as
 * a rolling deploy sees it: while B joins, `stream-app wait-ready` on B
 * returns only once B runs and its group has settled; A, whose partitions B
 * takes, answers /health 503 "rebalancing" for the settle period after its
 * revoke and 200 afterwards, now with half the partitions. The probes of A
 * are checked against A's own log time of the revoke, never against a sleep.
 */

import { spawn } from 'node:child_process'
import { GROUP_SETTLE_MS } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { BIN, startWorker } from './proc.ts'
import { COUNTER, getJson, logsOf, tempDir, until } from './sqlite-helpers.ts'

interface Health {
  readonly status: string
  readonly group: string
  readonly partitions: { readonly numbers?: readonly number[] }
  readonly lastRebalance?: { readonly kind: string }
}

interface Probe {
  readonly sentAt: number
  readonly gotAt: number
  readonly status: number
  readonly body: Health
}

/** Log timestamps (ms) of a worker's lines that match. */
const times = (log: string, pattern: RegExp) =>
  log
    .split('\n')
    .filter((l) => pattern.test(l))
    .map((l) => Date.parse(l.slice(0, 24)))

describe('readiness of two workers on sqlite://', { timeout: 120_000 }, () => {
  it('wait-ready on a joining worker waits for the group; the worker that gave up partitions is 503 meanwhile', async () => {
    const dir = tempDir()
    const a = startWorker(['run', COUNTER], {}, dir)
    const ua = await a.url()
    const context = logsOf(a)
    await until('A to be ready', async () => (await getJson(`${ua}/health`)).status === 200, { context })

    // Probe A from now until the test is done with it.
    const probes: Probe[] = []
    let probing = true
    const prober = (async () => {
      while (probing) {
        const sentAt = Date.now()
        const { status, body } = await getJson<Health>(`${ua}/health`)
        probes.push({ sentAt, gotAt: Date.now(), status, body })
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const b = startWorker(['run', COUNTER], {}, dir)
    const ub = await b.url()
    const both = logsOf(a, b)
    const wait = spawn(process.execPath, [BIN, 'wait-ready', COUNTER, '--url', ub, '--timeout', '60s'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let waitErr = ''
    wait.stderr.on('data', (d: Buffer) => {
      waitErr += d.toString('utf8')
    })
    const code = await new Promise<number | null>((r) => wait.on('exit', r))
    const readyAt = Date.now()
    expect(code, `${waitErr}\n${both()}`).toBe(0)
    const assignedB = times(b.log(), /partitions assigned/)
    expect(readyAt, both()).toBeGreaterThanOrEqual(Math.max(...assignedB) + GROUP_SETTLE_MS)

    // A settles too, with the half B did not take.
    const settled = await until(
      'A to be ready again after its revoke',
      async () => {
        const h = await getJson<Health>(`${ua}/health`)
        return h.status === 200 && h.body.lastRebalance?.kind === 'revoked' ? h.body : undefined
      },
      { context: both },
    )
    probing = false
    await prober
    const hb = (await getJson<Health>(`${ub}/health`)).body
    expect([...(settled.partitions.numbers ?? []), ...(hb.partitions.numbers ?? [])].sort()).toEqual([
      0, 1, 2, 3,
    ])
    expect(settled.partitions.numbers).toHaveLength(2)

    // Every probe of A answered wholly inside the settle period after its revoke said 503 rebalancing.
    const revoked = Math.max(...times(a.log(), /partitions revoked/))
    const inside = probes.filter((p) => p.sentAt > revoked + 50 && p.gotAt < revoked + GROUP_SETTLE_MS)
    for (const p of inside) expect(p, both()).toMatchObject({ status: 503, body: { status: 'rebalancing' } })
    // A went 200 → 503 → 200: the window was seen, not only probes on either side of it.
    expect(probes[0]!.status).toBe(200)
    expect(
      probes.some((p) => p.status === 503 && p.sentAt > revoked),
      `${inside.length} probes inside the window\n${both()}`,
    ).toBe(true)

    await b.stop()
    await a.stop()
  })
})
