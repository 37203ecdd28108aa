/** Keys and display of topic-partitions, shared by the runtime and every adapter. */
import type { TopicPartition } from './index.ts'

/** A map key for one partition of a topic. */
export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

/** Partitions grouped by topic for messages: `orders[0,1] words[3]`. */
export const fmtTps = (tps: readonly TopicPartition[]): string => {
  const by = new Map<string, number[]>()
  for (const tp of tps) by.set(tp.topic, [...(by.get(tp.topic) ?? []), tp.partition])
  return [...by].map(([t, ps]) => `${t}[${ps.sort((a, b) => a - b).join(',')}]`).join(' ')
}
