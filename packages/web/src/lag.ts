/**
 * Consumer lag, asked of the broker with a deadline: /metrics and GET /lag
 * must answer even when the broker does not. GET /lag lists it per assigned
 * source partition (the live page's lag table).
 */
import type { PartitionLag, WorkerView } from '@stream-app/core'
import type { Context } from 'hono'

/** How long the broker has to tell the end offsets. */
export const LAG_TIMEOUT_MS = 2_000

/** The worker's lag per assigned source partition; rejects after `timeoutMs` without an answer. */
export async function lagWithin(view: WorkerView, timeoutMs = LAG_TIMEOUT_MS): Promise<PartitionLag[]> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      view.sensor.lag(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The GET /lag handler: `[{topic, partition, position, end, lag}]` sorted by
 * topic and partition; 503 with the reason when the broker does not answer
 * (the client is told, so nothing is logged per poll).
 */
export function lagRoute(view: WorkerView) {
  return async (c: Context): Promise<Response> => {
    try {
      const lag = await lagWithin(view)
      return c.json(
        [...lag].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)),
      )
    } catch (e) {
      return c.json({ error: `consumer lag unavailable: ${e instanceof Error ? e.message : String(e)}` }, 503)
    }
  }
}
