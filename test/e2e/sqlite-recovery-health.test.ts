/**
 * A worker recovering a table of 600k rows from its sqlite store keeps
 * answering: /health says 503 with the recovery's progress within 100 ms at
 * every moment of it (the recovery hands the event loop back between pages of
 * rows), /metrics shows the recovery in progress, and the worker then serves
 * the recovered rows.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { partitionForKey } from '@stream-app/core/runtime'
import { describe, expect, it } from 'vitest'
import { openSqliteStore } from '../../packages/sqlite/src/index.ts'
import { startWorker } from './proc.ts'
import { fixture, getJson, logsOf, metrics, storeFile, tempDir, until } from './sqlite-helpers.ts'

const ROWS = 600_000
const PARTITIONS = 4

interface Probe {
  readonly ms: number
  readonly status: number
  readonly body: { status: string; recovery?: { phase: string; storeRows: number } }
}

describe('/health while a large table recovers', { timeout: 180_000 }, () => {
  it('answers 503 with progress within 100 ms throughout, then 200, and the rows are there', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, '.stream-app', 'big'), { recursive: true })
    const store = openSqliteStore({ path: storeFile(dir, 'big') })
    const changes = Array.from({ length: ROWS }, (_, i) => {
      const key = `k${i}`
      return { partition: partitionForKey(Buffer.from(key), PARTITIONS), key, value: String(i % 1000) }
    })
    const t = store.table('big-sums-changelog')
    store.transaction(() => t.apply(changes, new Map()))
    store.close()

    const w = startWorker(['run', fixture('big-table.ts'), '--web-port', '0'], {}, dir)
    const url = (await w.waitFor(/web server listening on (http:\/\/[\d.:]+)/))[1]!
    // One request first, untimed: the client's own first connection is not the worker's latency.
    await fetch(`${url}/health`)
    const probes: Probe[] = []
    let scrapedInProgress = false
    for (;;) {
      const t0 = performance.now()
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })
      const body = (await res.json()) as Probe['body']
      probes.push({ ms: performance.now() - t0, status: res.status, body })
      if (res.status === 200) break
      if (!scrapedInProgress && body.recovery) {
        const m = await metrics(url)
        scrapedInProgress = m.get('stream_app_recovery_in_progress') === 1
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    const during = probes.filter((p) => p.body.recovery !== undefined)
    const slow = probes
      .filter((p) => p.ms >= 100)
      .map((p) => `${p.ms.toFixed(0)}ms ${JSON.stringify(p.body)}`)
    const context = `${probes.length} probes, slowest ${Math.max(...probes.map((p) => p.ms)).toFixed(1)} ms\n${slow.join('\n')}\n${logsOf(w)()}`
    expect(during.length, context).toBeGreaterThanOrEqual(5)
    for (const p of probes) expect(p.ms, context).toBeLessThan(100)
    for (const p of during) {
      expect(p.status).toBe(503)
      expect(p.body.status).toBe('recovering')
      expect(p.body.recovery!.phase).toBe('store')
    }
    // Progress moves: rows loaded grow from probe to probe (per table being loaded).
    const rows = during.map((p) => p.body.recovery!.storeRows)
    expect(
      rows.some((r, i) => i > 0 && r > rows[i - 1]!),
      context,
    ).toBe(true)
    expect(scrapedInProgress, context).toBe(true)
    expect(probes.at(-1)!.body).toMatchObject({ status: 'ok', group: 'stable' })

    await until('the recovered rows to be served', async () => {
      const r = await getJson<{ value: number }>(`${url}/tables/sums/k123456`)
      return r.status === 200 && r.body.value === 456
    })
    const m = await metrics(url)
    expect(m.get('stream_app_recovery_in_progress')).toBe(0)
    expect(m.get('stream_app_table_rows{table="sums"}')).toBe(ROWS)
    await w.stop()
  })
})
