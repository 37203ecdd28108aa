/**
 * What the stateful e2e apps (fixtures/sqlite-stateful.ts and its Kafka twin)
 * must answer after `produce --base BASE`, and how a test asks a worker.
 */
import { getJson, recentMinute } from './proc.ts'

export const BASE = recentMinute()

/** User i's report, followers and sessions; with `tier`, its tier in the global table too. */
export const expected = (i: number, tier = false) => ({
  report: `U${i} spent ${i + 1}`,
  followers: Array.from({ length: (i % 3) + 1 }, (_, f) => `f${f}`),
  sessions: [
    { start: BASE, end: BASE + 80_000, value: 2 },
    { start: BASE + 600_000, end: BASE + 710_000, value: 3 },
  ],
  ...(tier ? { tier: i % 2 ? 'silver' : 'gold' } : {}),
})

/** What the worker at `url` answers for users u0..u<n-1>, in the shape of `expected`. */
export async function answers(url: string, n: number, tier = false) {
  const out = []
  for (let i = 0; i < n; i++) {
    const u = `u${i}`
    const [r, f, s, t] = await Promise.all([
      getJson<{ report: string | null }>(`${url}/report/${u}`),
      getJson<{ followers: string[] }>(`${url}/followers/${u}`),
      getJson<{ sessions: unknown[] }>(`${url}/sessions/${u}`),
      tier ? getJson<{ tier: string }>(`${url}/tier/${u}`) : undefined,
    ])
    out.push({
      report: r.body.report,
      followers: f.body.followers,
      sessions: s.body.sessions,
      ...(t ? { tier: t.body.tier } : {}),
    })
  }
  return out
}

/** Each order of user i paired with payment i, for the users given. */
export const pairs = (users: readonly number[]) =>
  users.flatMap((i) => [`u${i}-a ${i}`, `u${i}-b ${i}`]).sort()

/** The distinct pairs among the stream–stream join's results (a redelivery may repeat one). */
export const distinctPairs = (values: readonly { id: string; paid: number }[]) =>
  [...new Set(values.map((v) => `${v.id} ${v.paid}`))].sort()

/**
 * Whether the worker at `url` answers every customer u0..u<n-1> (table-routed: the holder
 * answers): the stream–table join drops an order whose customer is not in the table yet.
 */
export async function customersIn(url: string, n: number): Promise<boolean> {
  for (let i = 0; i < n; i++) {
    const r = await getJson<{ value: { name: string } | null }>(`${url}/tables/customer/u${i}`)
    if (r.status !== 200 || r.body.value?.name !== `U${i}`) return false
  }
  return true
}
