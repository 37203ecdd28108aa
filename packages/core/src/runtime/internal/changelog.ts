/**
 * Reading a table's changelog records: the store key and value text each one
 * carries, applied by recovery, standby replicas and global tables alike.
 */
import type { BrokerRecord, StoreChange } from '../../ports/index.ts'

const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

/**
 * Walks changelog records: each keyed one as its store key and value text
 * (undefined for a tombstone) to `apply`, and as the store change it makes.
 */
export function eachChange(
  records: readonly BrokerRecord[],
  apply: (storeKey: string, text: string | undefined, partition: number) => void,
): StoreChange[] {
  const changes: StoreChange[] = []
  for (const r of records) {
    if (r.key === null) continue
    const sk = utf8(r.key)
    const text = r.value === null ? undefined : utf8(r.value)
    apply(sk, text, r.partition)
    changes.push({ partition: r.partition, key: sk, value: text })
  }
  return changes
}
