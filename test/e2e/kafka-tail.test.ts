/**
 * `stream-app tail` on real Kafka: every --from form, --partition, --limit,
 * --group (commits what it printed, so the next read in the group goes on
 * from there) and --follow seeing a record sent after it started. Records
 * are written with `send --keyed --timestamp --header`; a record that does not
 * decode is dead-lettered by a real worker and tail shows why. The real CLI in child
 * processes; the app's id (hence its topic names) is new each run.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import {
  bootstrap,
  cliAsync,
  KAFKA_POLL,
  openBroker,
  runWorker,
  tempDir,
  uniq,
  until,
} from './kafka-helpers.ts'

const BIN = fileURLToPath(new URL('../../packages/stream-app/bin/stream-app.js', import.meta.url))
const APP = fileURLToPath(new URL('../../packages/stream-app/test/fixtures/tail-app.ts', import.meta.url))
const JAN = Date.parse('2026-01-01T00:00:00Z')
const FEB = Date.parse('2026-02-01T00:00:00Z')

const dir = tempDir('kafka-tail')
const id = uniq('tail')
const NUMBERS = `${id}-numbers`
const env = { TAIL_ID: id }
afterAll(() => dir.remove())

const cli = (args: readonly string[]) => cliAsync(args, { env, cwd: dir.path, timeoutMs: 90_000 })

/** Sends stdin lines with the CLI (cliAsync has no stdin). */
function sendLines(args: readonly string[], input: string) {
  return new Promise<{ code: number | null; err: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'send', APP, ...args], {
      cwd: dir.path,
      env: { ...process.env, STREAM_APP_BROKER: `kafka://${bootstrap()}`, ...env },
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')))
    child.stdin.end(input)
    child.on('exit', (code) => resolve({ code, err }))
  })
}

const rows = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { partition: number; offset: number; key: unknown; value: unknown })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset)

describe('kafka://: stream-app tail', { timeout: 240_000 }, () => {
  it('reads from earliest, latest, an offset and a time, by partition, with a limit and a group', async () => {
    const [keyed, one] = await Promise.all([
      sendLines(
        [
          NUMBERS,
          '--keyed',
          '--partition',
          '0',
          '--timestamp',
          '2026-01-01T00:00:00Z',
          '--header',
          'src=cli',
        ],
        'a\t1\nb\t2\nc\t3\n',
      ),
      cli(['send', APP, NUMBERS, '42', '--key', 'z', '--partition', '1', '--timestamp', String(FEB)]),
    ])
    expect(keyed.code, keyed.err).toBe(0)
    expect(one.code, one.err).toBe(0)

    const [all, latest, offset, time, first, bad] = await Promise.all([
      cli(['tail', APP, NUMBERS]),
      cli(['tail', APP, NUMBERS, '--from', 'latest']),
      cli(['tail', APP, NUMBERS, '--from', '1', '--partition', '0']),
      cli(['tail', APP, NUMBERS, '--from', '2026-01-15T00:00:00Z']),
      cli(['tail', APP, NUMBERS, '--group', `${id}-reader`, '--limit', '3']),
      cli(['tail', APP, `${id}-nope`]),
    ])
    expect(all.code, all.err).toBe(0)
    expect(rows(all.out).map((r) => [r.partition, r.offset, r.key, r.value])).toEqual([
      [0, 0, 'a', 1],
      [0, 1, 'b', 2],
      [0, 2, 'c', 3],
      [1, 0, 'z', 42],
    ])
    // Partitions come out interleaved in any order: the keyed lines are partition 0's.
    const firstOfZero = all.out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { partition: number; offset: number })
      .find((r) => r.partition === 0 && r.offset === 0)
    expect(firstOfZero).toMatchObject({ timestamp: JAN, headers: { src: 'cli' } })
    expect(latest).toMatchObject({ code: 0, out: '' })
    expect(rows(offset.out).map((r) => r.offset)).toEqual([1, 2])
    expect(rows(time.out).map((r) => r.value)).toEqual([42])
    expect(first.code, first.err).toBe(0)
    expect(rows(first.out)).toHaveLength(3)
    const rest = await cli(['tail', APP, NUMBERS, '--group', `${id}-reader`])
    // The group committed the three it printed: the fourth is all that is left.
    expect(rows(rest.out)).toHaveLength(1)
    expect(
      [...rows(first.out), ...rows(rest.out)].map((r) => r.value).sort((a, b) => Number(a) - Number(b)),
    ).toEqual([1, 2, 3, 42])
    expect(bad.code).toBe(1)
    expect(bad.err.trim()).toMatch(/^stream-app: unknown topic '.*-nope' \(the app's topics: /)
  })

  it('--follow prints a record sent after it started; SIGTERM ends it with exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'tail', APP, NUMBERS, '--from', 'latest', '--follow'], {
      cwd: dir.path,
      env: { ...process.env, STREAM_APP_BROKER: `kafka://${bootstrap()}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    try {
      // Sent until the follower shows one: it may still be opening its reader when the first lands.
      let n = 100
      await until(
        'tail --follow to print a new record',
        async () => {
          const sent = await cli(['send', APP, NUMBERS, String(n++), '--key', 'f'])
          expect(sent.code, sent.err).toBe(0)
          return out.includes('"key":"f"') ? true : undefined
        },
        {
          timeoutMs: 90_000,
          everyMs: 100,
          context: () => `stdout: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)}`,
        },
      )
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(rows(out)[0]).toMatchObject({ key: 'f' })
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  it('a dead-letter topic: the worker dead-letters a value that does not decode, tail shows it with its reason', async () => {
    const worker = runWorker(APP, 'dl-worker', dir.path, env)
    try {
      // Written under the schema's nose (not through send, which would refuse it).
      const broker = await openBroker()
      try {
        await broker.producer().send([
          {
            topic: NUMBERS,
            partition: 1,
            key: Buffer.from('bad'),
            value: Buffer.from('oops'),
            timestamp: FEB,
          },
        ])
      } finally {
        await broker.close()
      }
      const dead = await until(
        'the worker to dead-letter the record that does not decode',
        async () => {
          const r = await cli(['tail', APP, `${NUMBERS}.dead-letter`])
          expect(r.code, r.err).toBe(0)
          const found = r.out.split('\n').filter((l) => l.trim() !== '')
          return found.length ? (JSON.parse(found[0]!) as Record<string, unknown>) : undefined
        },
        { ...KAFKA_POLL, context: () => worker.log() },
      )
      expect(dead).toMatchObject({ topic: `${NUMBERS}.dead-letter`, key: 'bad', timestamp: FEB })
      expect(dead.headers).toMatchObject({
        'stream-app.error-topic': NUMBERS,
        'stream-app.error-partition': '1',
        'stream-app.error-agent': 'add',
      })
      expect((dead.headers as Record<string, string>)['stream-app.error']).toMatch(/\S/)
    } finally {
      await worker.stop()
    }
  })
})
