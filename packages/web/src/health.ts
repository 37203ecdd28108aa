/**
 * GET /health: 200 only when the worker is ready — it runs and its group is
 * stable — so a deploy that moves on at 200 does not overlap a rebalance; 503
 * otherwise, with the reason. The body always says the worker state, the group
 * state, the partitions it processes, its last rebalance and any recovery in
 * progress, and the process id (what a process manager or a test signals).
 */
import type { Readiness, TopicPartition, WorkerView } from '@stream-app/core'
import type { Context } from 'hono'

/** `{ orders: [0, 1] }`: partitions grouped by topic, for reading at a glance. */
const byTopic = (tps: readonly TopicPartition[]): Record<string, number[]> => {
  const out: Record<string, number[]> = {}
  for (const tp of tps) (out[tp.topic] ??= []).push(tp.partition)
  for (const ps of Object.values(out)) ps.sort((a, b) => a - b)
  return out
}

const seconds = (ms: number) => Math.round(ms / 100) / 10

/** The JSON of GET /health for a readiness (status 'ok' when ready, else why not in a word). */
export function healthBody(r: Readiness, now = Date.now()): Record<string, unknown> {
  const rec = r.recovery
  return {
    status: r.ready ? 'ok' : r.state === 'running' ? 'rebalancing' : r.state,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    state: r.state,
    group: r.group,
    pid: process.pid,
    partitions: byTopic(r.partitions),
    ...(r.lastRebalance
      ? {
          lastRebalance: {
            kind: r.lastRebalance.kind,
            partitions: byTopic(r.lastRebalance.partitions),
            secondsAgo: seconds(r.lastRebalance.ago),
          },
        }
      : {}),
    ...(rec
      ? {
          recovery: {
            table: rec.table,
            partitions: rec.partitions,
            phase: rec.phase,
            storeRows: rec.storeRows,
            changelog: { done: rec.changelogDone, of: rec.changelogTotal },
            seconds: seconds(now - rec.startedAt),
          },
        }
      : {}),
  }
}

/**
 * Brokers out of reach do not make a running worker unready: it serves its
 * tables from memory and resumes by itself when they are back, so a probe must
 * not restart it; the body says what is wrong.
 */
export const healthRoute = (rt: WorkerView) => async (c: Context) => {
  const r = rt.readiness()
  const body = healthBody(r)
  const snap = rt.sensor.snapshot()
  // An agent that stopped by itself never goes unnoticed: which one, at which record, why.
  const stopped = snap.agents.filter((a) => a.stopped !== undefined)
  if (stopped.length && r.state === 'running') {
    body.status = 'agent stopped'
    body.stoppedAgents = stopped.map((a) => ({ agent: a.name, ...a.stopped }))
    return c.json(body, 503)
  }
  // A handler holding one record past stallTimeout: not ok, and which one, where, for how long.
  const stalled = snap.stalls?.current ?? []
  if (stalled.length) {
    body.status = 'stalled'
    body.stalled = stalled.map((s) => ({ ...s, seconds: seconds(s.heldMs) }))
    return c.json(body, 503)
  }
  if (r.state === 'running') {
    const b = await rt.brokerReachability()
    if (!b.reachable)
      body.broker = { reachable: false, error: b.error, seconds: seconds(Date.now() - b.sinceMs) }
  }
  return c.json(body, r.ready ? 200 : 503)
}
