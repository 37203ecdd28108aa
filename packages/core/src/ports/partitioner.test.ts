import { describe, expect, it } from 'vitest'
import { murmur2, partitionForKey } from './partitioner.ts'

// Vectors printed by Apache Kafka 4.4's own org.apache.kafka.common.utils.Utils
// (murmur2, and toPositive(murmur2) % n as the Java producer's default partitioner).
const VECTORS: [key: string, hash: number, p8: number, p3: number][] = [
  ['a', -1563381124, 4, 1],
  ['foo', 597841616, 0, 2],
  ['customer-42', -542987495, 1, 0],
  ['hello world', 1221641059, 3, 1],
  ['ünïcödé', 201421315, 3, 1],
  ['', 275646681, 1, 0],
  ['abcdefg', -346467175, 1, 1],
  ['0123456789', -631703640, 0, 2],
]

describe('Kafka default partitioner', () => {
  it.each(VECTORS)('key %j hashes and partitions like the Java client', (key, hash, p8, p3) => {
    const bytes = Buffer.from(key, 'utf8')
    expect(murmur2(bytes)).toBe(hash)
    expect(partitionForKey(bytes, 8)).toBe(p8)
    expect(partitionForKey(bytes, 3)).toBe(p3)
  })
})
