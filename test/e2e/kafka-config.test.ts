/**
 * Settings that reach Kafka from the app: `brokerOptions` (librdkafka's
 * security settings, passed as is) on the broker's SASL/PLAIN listener, where
 * the right password works end to end and a wrong one makes `stream-app run`
 * print one clear line and exit 1.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import {
  COUNTER_APP,
  cliAsync,
  getJson,
  KAFKA_POLL,
  runWorker,
  tempDir,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll } from './proc.ts'

/** The test broker's SASL_PLAINTEXT listener (scripts/kafka.sh: user stream-app / stream-app-secret). */
const SASL = `kafka://${inject('kafkaSaslBrokers')}`

const dir = tempDir('kafka-config')
afterAll(async () => {
  await killAll()
  dir.remove()
})

/** stderr without blank lines. */
const errLines = (err: string) => err.split('\n').filter((l) => l.trim() !== '')

describe('kafka://: brokerOptions from the app', () => {
  it('brokerOptions carry SASL credentials: the right password works end to end, a wrong one is one line and exit 1', async () => {
    const id = uniq('sasl')
    const env = { E2E_ID: id, E2E_PARTITIONS: '2', STREAM_APP_BROKER: SASL }
    const worker = runWorker(COUNTER_APP, 'w', dir.path, { ...env, E2E_SASL_PASSWORD: 'stream-app-secret' })
    const url = await worker.url()
    const sent = await cliAsync(['produce', COUNTER_APP, '--count', '40', '--keys', '4'], {
      env: { ...env, E2E_SASL_PASSWORD: 'stream-app-secret' },
      cwd: dir.path,
    })
    expect(sent.code, sent.err).toBe(0)
    await until(
      'the worker to count every event',
      async () => {
        for (let k = 0; k < 4; k++)
          if ((await getJson<{ value: number }>(`${url}/tables/counts/k${k}`)).body.value !== 10)
            return undefined
        return true
      },
      KAFKA_POLL,
    )
    expect(await worker.stop()).toBe(0)

    const wrong = await cliAsync(['run', COUNTER_APP, '--web-port', '0', '--datadir', `${dir.path}/bad`], {
      env: { ...env, E2E_SASL_PASSWORD: 'not-the-password' },
      cwd: dir.path,
      timeoutMs: 60_000,
    })
    expect(wrong.code).toBe(1)
    expect(errLines(wrong.err), wrong.err).toHaveLength(1)
    expect(wrong.err.trim()).toMatch(
      /^stream-app: connecting the kafka:\/\/ broker: Kafka at [\d.:]+ refused the credentials \(.*Invalid username or password\); check brokerOptions sasl\.\*\/ssl\.\*$/,
    )
    expect(wrong.out).toBe('')
  }, 120_000)
})
