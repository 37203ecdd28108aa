/** Workload "web-table-lookup": GET /tables/:table/:key on 100k keys next to a bare hono route. */
import { benchTableLookup } from '@stream-app/web/bench'
import { type Result, rssMb } from './report.ts'

export async function benchWeb(): Promise<Result> {
  const r = await benchTableLookup({ keys: 100_000 })
  return {
    workload: 'web-table-lookup (GET /tables/:table/:key, 100k keys)',
    messages: 0,
    rate: r.tableRps,
    baseline: 'bare hono route returning a constant, same server',
    baseline_rate: r.bareRps,
    ratio: r.ratio,
    target: 0.7,
    rss_mb: rssMb(),
    table_p99_ms: r.tableP99Ms,
    bare_p99_ms: r.bareP99Ms,
  }
}
