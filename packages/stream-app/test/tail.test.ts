/**
 * `stream-app tail` and `send`'s key, timestamp and header options on the
 * embedded sqlite:// broker, next to a running worker of the app (started in
 * this process, its web server on loopback): the worker dead-letters a record
 * that does not decode, GET /topics/:topic/records answers over real HTTP, and
 * tail never takes records from the app's group. The real CLI, in child
 * processes, one broker directory for the whole file.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openSqliteBroker } from '@stream-app/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, type CliRun, killStartedClis, runCli } from './cli-run.ts'
import { app } from './fixtures/tail-app.ts'

const APP = fileURLToPath(new URL('./fixtures/tail-app.ts', import.meta.url))
const NUMBERS = 'tail-app-numbers'
const ORDERS = 'tail-app-orders'
const JAN = Date.parse('2026-01-01T00:00:00Z')
const FEB = Date.parse('2026-02-01T00:00:00Z')

const dir = mkdtempSync(join(tmpdir(), 'stream-app-tail-'))
const BROKER_FILE = join(dir, '.stream-app', 'broker.sqlite')
let worker: Awaited<ReturnType<typeof app.start>> | undefined
const children: ChildProcess[] = []

beforeAll(async () => {
  worker = await app.start({ broker: `sqlite://${BROKER_FILE}`, datadir: join(dir, 'data') })
}, 120_000)
afterAll(async () => {
  killStartedClis()
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  await worker?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The CLI in `dir` (the default sqlite:// broker file there), to completion. */
const cli = (args: readonly string[], input?: string): Promise<CliRun> =>
  runCli(dir, args, input === undefined ? {} : { input })

const jsonLines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

/** Polls fn until it gives something; after `ms` fails showing what it last saw. */
async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`waited ${ms}ms for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('send with keys, timestamps and headers; tail and the records endpoint', {
  timeout: 180_000,
}, () => {
  it('send: --keyed lines, --key-field, --timestamp ISO and ms, repeated --header', async () => {
    const [keyed, single, orders] = await Promise.all([
      cli(
        [
          'send',
          APP,
          NUMBERS,
          '--keyed',
          '--timestamp',
          '2026-01-01T00:00:00Z',
          '--header',
          'src=cli',
          '--header',
          'n=a=b',
        ],
        'a\t1\nb\t2\n\nc\t3\n',
      ),
      cli(['send', APP, NUMBERS, '42', '--key', 'z', '--partition', '1', '--timestamp', String(FEB)]),
      cli(['send', APP, ORDERS, '--key-field', 'id'], '{"id":"o1","n":1}\n{"id":"o2","n":2}\n'),
    ])
    for (const r of [keyed, single, orders]) expect(r.code, r.err).toBe(0)
    expect(jsonLines(keyed.out)).toHaveLength(3)
    expect(jsonLines(keyed.out)[0]).toMatchObject({ topic: NUMBERS, timestamp: JAN })
    expect(jsonLines(single.out)).toEqual([{ topic: NUMBERS, partition: 1, offset: 0, timestamp: FEB }])
    expect(jsonLines(orders.out)).toHaveLength(2)

    // A value that does not decode, written under the schema's nose: the worker dead-letters it.
    const broker = openSqliteBroker({ path: BROKER_FILE, maintenanceIntervalMs: 0 })
    try {
      const producer = broker.producer()
      await producer.send([
        { topic: NUMBERS, partition: 0, key: Buffer.from('bad'), value: Buffer.from('oops'), timestamp: JAN },
      ])
      await producer.close()
    } finally {
      await broker.close()
    }
  })

  it('tail: every --from form, --partition, --limit, a dead-letter topic, one-line errors', async () => {
    const [all, latest, offset, time, dead, group] = await Promise.all([
      cli(['tail', APP, NUMBERS]),
      cli(['tail', APP, NUMBERS, '--from', 'latest']),
      cli(['tail', APP, NUMBERS, '--from', '1', '--partition', '0', '--limit', '2']),
      cli(['tail', APP, NUMBERS, '--from', '2026-01-15T00:00:00Z']),
      until(
        async () => {
          const r = await cli(['tail', APP, `${NUMBERS}.dead-letter`])
          return r.out.trim() !== '' ? r : undefined
        },
        'the worker to dead-letter the bad record',
        60_000,
      ),
      cli(['tail', APP, ORDERS, '--group', 'tail-reader', '--limit', '1']),
    ])
    expect(all.code, all.err).toBe(0)
    const records = jsonLines(all.out)
    expect(records.map((r) => [r.partition, r.offset, r.key, r.value])).toEqual([
      [0, 0, 'a', 1],
      [0, 1, 'b', 2],
      [0, 2, 'c', 3],
      [0, 3, 'bad', Buffer.from('oops').toString('base64')],
      [1, 0, 'z', 42],
    ])
    expect(records[0]).toEqual({
      topic: NUMBERS,
      partition: 0,
      offset: 0,
      timestamp: JAN,
      key: 'a',
      value: 1,
      headers: { src: 'cli', n: 'a=b' },
    })
    expect(latest).toMatchObject({ code: 0, out: '' })
    expect(jsonLines(offset.out).map((r) => [r.partition, r.offset])).toEqual([
      [0, 1],
      [0, 2],
    ])
    expect(jsonLines(time.out).map((r) => r.value)).toEqual([42])

    const [dl] = jsonLines(dead.out)
    expect(dl).toMatchObject({ topic: `${NUMBERS}.dead-letter`, key: 'bad', timestamp: JAN })
    expect(dl!.value).toBe(Buffer.from('oops').toString('base64'))
    expect(dl!.headers).toMatchObject({
      'stream-app.error-topic': NUMBERS,
      'stream-app.error-partition': '0',
      'stream-app.error-offset': '3',
      'stream-app.error-agent': 'add',
    })
    expect((dl!.headers as Record<string, string>)['stream-app.error']).toMatch(/\S/)

    // --group commits what it printed: the next read in that group goes on from there.
    expect(jsonLines(group.out).map((r) => r.key)).toEqual(['o1'])
    const [rest, unknown, badFrom, own, badPartition] = await Promise.all([
      cli(['tail', APP, ORDERS, '--group', 'tail-reader']),
      cli(['tail', APP, 'nope']),
      cli(['tail', APP, NUMBERS, '--from', 'yesterday']),
      cli(['tail', APP, NUMBERS, '--group', 'tail-app']),
      cli(['tail', APP, NUMBERS, '--partition', '7']),
    ])
    expect(jsonLines(rest.out).map((r) => r.value)).toEqual([{ id: 'o2', n: 2 }])
    const oneLine = (r: CliRun, pattern: RegExp) => {
      expect(r.code).toBe(1)
      expect(r.out).toBe('')
      expect(r.err.trim().split('\n')).toHaveLength(1)
      expect(r.err.trim()).toMatch(pattern)
    }
    oneLine(
      unknown,
      /^stream-app: unknown topic 'nope' \(the app's topics: tail-app-numbers, tail-app-orders\)$/,
    )
    oneLine(badFrom, /^stream-app: bad --from 'yesterday': expected earliest, latest, an offset/)
    oneLine(own, /^stream-app: group 'tail-app' is the app's own consumer group/)
    oneLine(badPartition, /^stream-app: topic 'tail-app-numbers' has no partition 7 \(it has 2\)$/)

    // The app's own group was never moved: the worker summed every good record.
    const sum = await until(async () => {
      const r = await fetch(`${worker!.url}/tables/sum/total`)
      const body = (await r.json()) as { value?: number }
      return body.value === 48 ? body.value : undefined
    }, 'the worker to sum 1+2+3+42')
    expect(sum).toBe(48)
  })

  it('tail --follow prints a record sent after it started, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'tail', APP, ORDERS, '--from', 'latest', '--follow'], {
      cwd: dir,
      env: { ...process.env, STREAM_APP_BROKER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    // Sent until the follower shows one: it may still be opening its reader when the first lands.
    let n = 0
    await until(
      async () => {
        const sent = await cli(['send', APP, ORDERS, JSON.stringify({ id: `f${n}`, n: n++ }), '--key', 'f'])
        expect(sent.code, sent.err).toBe(0)
        return out.includes('"key":"f"') ? true : undefined
      },
      `tail --follow to print a new record (stdout: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)})`,
      60_000,
    )
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(jsonLines(out)[0]).toMatchObject({ topic: ORDERS, key: 'f' })
  })

  it('GET /topics/:topic/records over HTTP: bounded, by partition and offset, clear 4xx', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${worker!.url}${path}`)
      return {
        status: r.status,
        body: (await r.json()) as { records?: Record<string, unknown>[]; error?: string },
      }
    }
    const all = await get(`/topics/${NUMBERS}/records`)
    expect(all.status).toBe(200)
    expect(all.body.records!.map((r) => r.value)).toEqual([1, 2, 3, 'b29wcw==', 42])
    const some = await get(`/topics/${NUMBERS}/records?partition=0&from=2&limit=1`)
    expect(some.body.records).toEqual([
      {
        topic: NUMBERS,
        partition: 0,
        offset: 2,
        timestamp: JAN,
        key: 'c',
        value: 3,
        headers: { src: 'cli', n: 'a=b' },
      },
    ])
    const dead = await get(`/topics/${NUMBERS}.dead-letter/records`)
    expect(dead.body.records![0]!.headers).toMatchObject({ 'stream-app.error-agent': 'add' })
    expect((await get(`/topics/${NUMBERS}/records?from=2026-01-15T00:00:00Z`)).body.records).toHaveLength(1)
    expect(await get('/topics/nope/records')).toMatchObject({ status: 404 })
    expect(await get(`/topics/${NUMBERS}/records?limit=1001`)).toMatchObject({
      status: 400,
      body: { error: 'limit must be at most 1000, got 1001' },
    })
    expect((await get(`/topics/${NUMBERS}/records?from=soon`)).status).toBe(400)
    expect((await get(`/topics/${NUMBERS}/records?partition=x`)).status).toBe(400)
    expect((await get(`/topics/${NUMBERS}/records?partition=9`)).status).toBe(400)
  })
})
