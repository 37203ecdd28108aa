/** Topic administration and connection errors against the real broker. */
import { BrokerError } from '@stream-app/core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { openKafkaBroker } from '../src/index.ts'
import { javaProbe, kafkaUrl, openBroker, uniq } from './helpers.ts'

describe('kafka:// topics', () => {
  let b: Awaited<ReturnType<typeof openBroker>>
  beforeAll(async () => {
    b = await openBroker()
  })
  afterAll(async () => {
    await b.close()
  })

  it('creates missing topics with partitions, compaction, retention and extra configs', async () => {
    const plain = uniq('adm-plain')
    const compacted = uniq('adm-compact')
    const retained = uniq('adm-retain')
    await b.ensureTopics([
      { name: plain, partitions: 3 },
      { name: compacted, partitions: 2, compacted: true },
      { name: retained, partitions: 1, retentionMs: 3_600_000, config: { 'segment.ms': '600000' } },
    ])
    expect(await b.partitions(plain)).toBe(3)
    expect(await b.partitions(compacted)).toBe(2)
    expect(await b.partitions(retained)).toBe(1)
    expect(await b.partitions(uniq('adm-missing'))).toBeUndefined()
    // Existing topics with the same count are fine (idempotent).
    await b.ensureTopics([{ name: plain, partitions: 3 }])

    const lines = javaProbe(['configs', kafkaUrl().slice('kafka://'.length), plain, compacted, retained])
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'))
      .sort()
    expect(lines).toEqual(
      [
        [compacted, 'cleanup.policy', 'compact'],
        [retained, 'retention.ms', '3600000'],
        [retained, 'segment.ms', '600000'],
      ].sort(),
    )
  })

  it('refuses an existing topic with another partition count, naming topic and both counts', async () => {
    const name = uniq('adm-mismatch')
    await b.ensureTopics([{ name, partitions: 2 }])
    const err = await b.ensureTopics([{ name, partitions: 4 }]).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).retriable).toBe(false)
    expect((err as Error).message).toContain(`'${name}'`)
    expect((err as Error).message).toMatch(/with 2 partitions, but 4 are declared/)
    expect(await b.partitions(name)).toBe(2)
  })

  it('two clients creating the same topics at once can both read their offsets right away', async () => {
    // Two workers (or a worker and `stream-app send`) starting together: one creates each topic,
    // the other finds it existing before its own metadata knows it ("no such entry" on ListOffsets).
    const other = await openBroker()
    try {
      for (let i = 0; i < 10; i++) {
        const name = uniq('adm-race')
        const specs = [
          { name, partitions: 4 },
          { name: `${name}-x`, partitions: 1 },
        ]
        const tps = [
          { topic: name, partition: 3 },
          { topic: `${name}-x`, partition: 0 },
        ]
        const both = await Promise.all(
          [b, other].map(async (client) => {
            await client.ensureTopics(specs)
            return client.endOffsets(tps)
          }),
        )
        expect(both).toEqual([
          tps.map((tp) => ({ ...tp, offset: 0 })),
          tps.map((tp) => ({ ...tp, offset: 0 })),
        ])
      }
    } finally {
      await other.close()
    }
  })
})

/** A logger that keeps what it is given: a failed connect says it once, in its error, not also in the log. */
const capture = () => {
  const lines: string[] = []
  const keep = (m: string) => void lines.push(m)
  return { lines, log: { debug: keep, info: keep, warn: keep, error: keep } }
}

describe('kafka:// connection errors', () => {
  it('an unreachable broker is a retriable BrokerError with one clear line', async () => {
    const logged = capture()
    const err = await openKafkaBroker({ url: 'kafka://127.0.0.1:1', log: logged.log }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).retriable).toBe(true)
    expect((err as Error).message).toMatch(
      /^connecting the kafka:\/\/ broker: Kafka at 127\.0\.0\.1:1 is unreachable/,
    )
    expect((err as Error).message).not.toContain('\n')
    await new Promise((r) => setTimeout(r, 500))
    expect(logged.lines).toEqual([])
  })

  it('a wrong SASL password is a non-retriable BrokerError with one clear line', async () => {
    const sasl = (password: string) => ({
      'security.protocol': 'SASL_PLAINTEXT',
      'sasl.mechanisms': 'PLAIN',
      'sasl.username': 'stream-app',
      'sasl.password': password,
    })
    const url = `kafka://${inject('kafkaSaslBrokers')}`
    const logged = capture()
    const err = await openKafkaBroker({ url, brokerOptions: sasl('wrong'), log: logged.log }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).retriable).toBe(false)
    expect((err as Error).message).toMatch(/refused the credentials .*Invalid username or password/)
    expect((err as Error).message).not.toContain('\n')
    await new Promise((r) => setTimeout(r, 500))
    expect(logged.lines).toEqual([])
    // The right password works on the same listener, so the failure above really is the password.
    const ok = await openKafkaBroker({ url, brokerOptions: sasl('stream-app-secret') })
    expect(await ok.partitions(uniq('sasl-missing'))).toBeUndefined()
    await ok.close()
  })

  it('rejects a malformed URL', async () => {
    await expect(openKafkaBroker({ url: 'kafka://' })).rejects.toThrow(/invalid Kafka URL/)
    await expect(openKafkaBroker({ url: 'kafka://host-without-port' })).rejects.toThrow(/invalid Kafka URL/)
  })
})
