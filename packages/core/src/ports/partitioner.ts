/**
 * Kafka's default partitioner: murmur2 of the key bytes, made positive, modulo
 * the partition count. Every broker adapter uses this, so a key lands on the same
 * partition on memory://, sqlite:// and kafka://, and agrees with the Java client.
 */
import { crc32 as zlibCrc32 } from 'node:zlib'

/** Kafka's murmur2 (seed 0x9747b28c), as in org.apache.kafka.common.utils.Utils.murmur2. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  const m = 0x5bd1e995
  const r = 24
  let h = (0x9747b28c ^ length) | 0
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2
    let k =
      (data[i4]! & 0xff) |
      ((data[i4 + 1]! & 0xff) << 8) |
      ((data[i4 + 2]! & 0xff) << 16) |
      ((data[i4 + 3]! & 0xff) << 24)
    k = Math.imul(k, m)
    k ^= k >>> r
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const rest = length & 3
  const base = length & ~3
  if (rest === 3) h ^= (data[base + 2]! & 0xff) << 16
  if (rest >= 2) h ^= (data[base + 1]! & 0xff) << 8
  if (rest >= 1) {
    h ^= data[base]! & 0xff
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** The partition Kafka's Java producer picks for a non-null key. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}

/**
 * librdkafka's default for keyed records (`consistent_random`: CRC-32 of the
 * key bytes modulo the partition count), what confluent-kafka for Python, Go
 * and .NET producers use unless told otherwise (issue 23).
 */
export function crc32PartitionForKey(key: Uint8Array, partitions: number): number {
  return zlibCrc32(key) % partitions
}

/** The partition a producer using `partitioner` picks for a non-null key. */
export function partitionWith(
  partitioner: 'murmur2' | 'crc32' | undefined,
  key: Uint8Array,
  partitions: number,
): number {
  return partitioner === 'crc32' ? crc32PartitionForKey(key, partitions) : partitionForKey(key, partitions)
}
