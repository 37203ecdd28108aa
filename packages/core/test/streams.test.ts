import { afterEach, describe, expect, it } from 'vitest'
import { makeSerde } from '../src/definition/codec.ts'
import type { Registry } from '../src/definition/types.ts'
import { type AnySchema, createApp, Schema, type TestWorker } from '../src/index.ts'
import { messageOf } from '../src/runtime/index.ts'

const workers: TestWorker<Registry>[] = []
const track = <W extends TestWorker<Registry>>(w: W): W => {
  workers.push(w)
  return w
}
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
})

describe('stream operators', () => {
  it('filter, map and enumerate chain', async () => {
    const out: unknown[] = []
    const app = createApp({ id: 'ops' })
      .topic('nums', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'nums' }, async (s) => {
        for await (const x of s
          .filter((n) => n % 2 === 0)
          .map((n) => n * 10)
          .enumerate())
          out.push(x)
      })
    const t = track(await app.test())
    for (let i = 0; i < 6; i++) await t.topics.nums.send(i)
    await t.idle()
    expect(out).toEqual([
      [0, 0],
      [1, 20],
      [2, 40],
    ])
  })

  it('async map and filter functions are awaited', async () => {
    const out: unknown[] = []
    const app = createApp({ id: 'async-ops' })
      .topic('nums', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'nums' }, async (s) => {
        for await (const x of s.filter(async (n) => n > 1).map(async (n) => `#${n}`)) out.push(x)
      })
    const t = track(await app.test())
    for (let i = 0; i < 4; i++) await t.topics.nums.send(i)
    await t.idle()
    expect(out).toEqual(['#2', '#3'])
  })

  it('events() and items() carry key, topic, partition, offset, timestamp and headers', async () => {
    const events: unknown[] = []
    const items: unknown[] = []
    const app = createApp({ id: 'ev' })
      .topic('t', { value: Schema.String, partitions: 2 })
      .agent('e', { from: 't' }, async (s) => {
        for await (const e of s.events()) events.push(e)
      })
      .agent('i', { from: 't' }, async (s) => {
        for await (const kv of s.items()) items.push(kv)
      })
    const t = track(await app.test({ startTime: 1_000_000 }))
    await t.topics.t.send('hello', { key: 'k1', headers: { trace: 'abc' }, partition: 1, timestamp: 42 })
    await t.topics.t.send('world', { key: 'k2' })
    await t.idle()
    expect(events[0]).toEqual({
      key: 'k1',
      value: 'hello',
      topic: 't',
      partition: 1,
      offset: 0,
      timestamp: 42,
      headers: { trace: 'abc' },
    })
    expect(events[1]).toMatchObject({ key: 'k2', value: 'world', timestamp: 1_000_000 })
    expect(items).toEqual([
      ['k1', 'hello'],
      ['k2', 'world'],
    ])
  })

  it('take(n, within) gives full batches at once and a partial batch after `within` on the test clock', async () => {
    const batches: number[][] = []
    const app = createApp({ id: 'take' })
      .topic('nums', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'nums' }, async (s) => {
        for await (const b of s.take(3, '1s')) batches.push(b)
      })
    const t = track(await app.test())
    for (let i = 0; i < 7; i++) await t.topics.nums.send(i)
    await t.idle()
    expect(batches).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ])
    await t.advance('999ms')
    expect(batches).toHaveLength(2)
    await t.advance('1ms')
    expect(batches).toEqual([[0, 1, 2], [3, 4, 5], [6]])
    // a value arriving after a timeout is not lost
    await t.topics.nums.send(7)
    await t.idle()
    await t.advance('1s')
    expect(batches.at(-1)).toEqual([7])
  })

  it('groupBy repartitions through an internal topic by the new key', async () => {
    const Click = Schema.Struct({ user: Schema.String, page: Schema.String })
    const app = createApp({ id: 'gb' })
      .topic('clicks', { value: Click, partitions: 4 })
      .table('per-page', { default: () => 0 })
      .agent('count', { from: 'clicks' }, async (s, ctx) => {
        for await (const c of s.groupBy((c) => c.page, { name: 'by-page' })) {
          ctx.tables['per-page'].update(c.page, (n) => n + 1)
        }
      })
    const t = track(await app.test())
    for (let i = 0; i < 20; i++)
      await t.topics.clicks.send({ user: `u${i}`, page: `p${i % 3}` }, { key: `u${i}` })
    await t.idle()
    expect(t.tables['per-page'].get('p0')).toBe(7)
    expect(t.tables['per-page'].get('p1')).toBe(7)
    expect(t.tables['per-page'].get('p2')).toBe(6)
    const repartitioned = t.sent('gb-count-by-page-repartition')
    expect(repartitioned).toHaveLength(20)
    // every event of one page went to one partition
    const partitions = new Map<unknown, Set<number>>()
    for (const e of repartitioned) {
      const set = partitions.get(e.key) ?? new Set()
      set.add(e.partition)
      partitions.set(e.key, set)
    }
    for (const set of partitions.values()) expect(set.size).toBe(1)
  })

  it('through(topic) sends every value on and continues with that topic', async () => {
    const seen: string[] = []
    const app = createApp({ id: 'thr' })
      .topic('in', { value: Schema.String })
      .topic('mid', { value: Schema.String })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const v of s.map((x) => x.toUpperCase()).through('mid')) seen.push(v)
      })
    const t = track(await app.test())
    await t.topics.in.send('a', { key: 'x' })
    await t.topics.in.send('b', { key: 'y' })
    await t.idle()
    expect(seen.sort()).toEqual(['A', 'B'])
    expect(
      t
        .sent('mid')
        .map((e) => e.value)
        .sort(),
    ).toEqual(['A', 'B'])
  })

  it('a groupBy key function that throws crashes the instance (restarted), never silently', async () => {
    let starts = 0
    const app = createApp({ id: 'gbx' })
      .topic('in', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        starts++
        for await (const _ of s.groupBy(
          (n) => {
            if (n === 2) throw new Error('no key for 2')
            return String(n)
          },
          { name: 'k' },
        )) {
          // consume
        }
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    for (let i = 0; i < 4; i++) await t.topics.in.send(i)
    await t.idle()
    await t.advance('1s')
    expect(starts).toBeGreaterThanOrEqual(2)
  })
})

describe('sink values', () => {
  it('values yielded in one turn, ASCII or not, are written as each alone encodes', async () => {
    const values = [
      'plain',
      'é',
      '',
      '🙂 emoji',
      '\ud800 lone surrogate',
      '{"json":"text"}',
      'x'.repeat(5000),
    ]
    const app = createApp({ id: 'sink-text' })
      .topic('in', { value: Schema.Number, partitions: 1 })
      .topic('asJson', { value: Schema.String, partitions: 1 })
      .topic('asString', { value: Schema.String, codec: 'string', partitions: 1 })
      .topic('asRaw', { value: Schema.Unknown, codec: 'raw', partitions: 1 })
      .agent('a', { from: 'in', sink: ['asJson', 'asString'] }, async function* (s) {
        for await (const _ of s) for (const v of values) yield v
      })
      .agent('b', { from: 'in', sink: ['asRaw'] }, async function* (s) {
        for await (const _ of s) yield Buffer.from('raw bytes')
      })
    const t = track(await app.test())
    await t.topics.in.send(1)
    await t.idle()
    expect(t.sent('asJson').map((e) => e.value)).toEqual(values.map((v) => JSON.parse(JSON.stringify(v))))
    expect(t.sent('asString').map((e) => e.value)).toEqual(values.map((v) => Buffer.from(v).toString()))
    expect(t.sent('asRaw').map((e) => Buffer.from(e.value as Uint8Array).toString())).toEqual(['raw bytes'])
    // the bytes themselves, and no text left on the stored records
    const broker = (t as unknown as { broker: { sentTo: (topic: string) => Record<string, unknown>[] } })
      .broker
    const hex = (b: unknown) => Buffer.from(b as Uint8Array).toString('hex')
    expect(broker.sentTo('asJson').map((r) => hex(r.value))).toEqual(
      values.map((v) => hex(Buffer.from(JSON.stringify(v)))),
    )
    expect(broker.sentTo('asString').map((r) => hex(r.value))).toEqual(values.map((v) => hex(Buffer.from(v))))
    expect(broker.sentTo('asJson').every((r) => r.text === undefined)).toBe(true)
  })
})

describe('invalid messages', () => {
  const Num = Schema.Struct({ n: Schema.Number })

  it('skip (default): logged with topic, partition, offset and reason, and the agent goes on', async () => {
    const got: number[] = []
    const logs: string[] = []
    const app = createApp({ id: 'inv' })
      .topic('in', { value: Num, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const v of s) got.push(v.n)
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    ;(t.log as { warn: (m: string, f?: object) => void }).warn = (m, f) =>
      logs.push(`${m} ${JSON.stringify(f)}`)
    await t.topics.in.send({ n: 1 })
    // bytes that are not JSON and JSON that fails the schema, written around the schema
    await injectRaw(t, 'in', '{not json')
    await injectRaw(t, 'in', '{"n":"one"}')
    await t.topics.in.send({ n: 2 })
    await t.idle()
    expect(got).toEqual([1, 2])
    expect(logs).toHaveLength(2)
    expect(logs[0]).toMatch(/invalid message skipped.*"topic":"in","partition":0,"offset":1/)
    expect(logs[1]).toMatch(/"offset":2.*Expected number/)
  })

  it('a batch of many records mixing good, malformed, invalid and null payloads: each read as it reads alone', async () => {
    const got: unknown[] = []
    const logs: string[] = []
    const app = createApp({ id: 'inv-batch' })
      .topic('in', { value: Num, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const v of s) got.push(v)
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    ;(t.log as { warn: (m: string, f?: object) => void }).warn = (m, f) =>
      logs.push(`${m} ${JSON.stringify(f)}`)
    const texts: (string | null)[] = []
    const broker = (t as unknown as { broker: { append: (r: unknown[]) => void } }).broker
    const append = (part: (string | null)[]) => {
      texts.push(...part)
      broker.append(
        part.map((text) => ({
          topic: 'in',
          partition: 0,
          key: null,
          value: text === null ? null : Buffer.from(text),
          timestamp: Date.now(),
        })),
      )
    }
    const good = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `{"n":${from + i}}`)
    // pieces that parse together as array elements but not alone, among good records
    append([...good(0, 40), '{"n":1},{"n":2}', '{"n":"', '"}', ...good(40, 150)])
    await t.idle()
    // bytes that are not JSON, a null payload, a schema violation
    append([...good(150, 200), '{not json', null, '{"n":"x"}', '{"n":3,"extra":"é"}', ...good(200, 300)])
    await t.idle()
    // what each payload decodes to alone, and why not
    const serde = makeSerde<unknown>(Num as unknown as AnySchema, 'json')
    const expected: unknown[] = []
    const reasons: string[] = []
    texts.forEach((text, offset) => {
      try {
        expected.push(serde.decode(text === null ? null : Buffer.from(text)))
      } catch (e) {
        reasons.push(`${offset} ${messageOf(e)}`)
      }
    })
    expect(got).toEqual(expected)
    expect(got).toHaveLength(301)
    expect(
      logs.map((l) => `${/"offset":(\d+)/.exec(l)?.[1]} ${JSON.parse(l.slice(l.indexOf('{'))).reason}`),
    ).toEqual(reasons)
    expect(reasons.map((r) => Number(r.split(' ')[0]))).toEqual([40, 41, 42, 203, 204, 205])
  })

  it('dead-letter: raw bytes with error headers go to <topic>.dead-letter', async () => {
    const app = createApp({ id: 'dlq' })
      .topic('in', { value: Num, partitions: 1, onInvalid: 'dead-letter' })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const _ of s) {
        }
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    await injectRaw(t, 'in', '{"n":"x"}')
    await t.topics.in.send({ n: 1 })
    await injectRaw(t, 'in', 'not json \xff')
    await t.idle()
    // A dead letter is the raw bytes as they came: t.sent() gives them as Buffers, never parsed.
    const dead = t.sent('in.dead-letter')
    expect(dead).toHaveLength(2)
    expect(dead[0]!.value).toEqual(Buffer.from('{"n":"x"}'))
    expect(dead[1]!.value).toEqual(Buffer.from('not json \xff'))
    expect(dead[0]!.headers['stream-app.error']).toMatch(/Expected number/)
    expect(dead[0]!.headers).toMatchObject({ 'stream-app.error-topic': 'in', 'stream-app.error-offset': '0' })
  })

  it('fail: the agent stops at the bad message and leaves it uncommitted; the worker goes on', async () => {
    const got: number[] = []
    const app = createApp({ id: 'failmode' })
      .topic('in', { value: Num, partitions: 1, onInvalid: 'fail' })
      .topic('other', { value: Num, partitions: 1 })
      .agent('a', { from: 'in' }, async (s) => {
        for await (const v of s) got.push(v.n)
      })
      .agent('b', { from: 'other' }, async (s) => {
        for await (const v of s) got.push(v.n * 100)
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    await t.topics.in.send({ n: 1 })
    await injectRaw(t, 'in', 'garbage')
    await t.topics.in.send({ n: 2 })
    await t.topics.other.send({ n: 3 })
    await t.idle()
    expect(got).toEqual([1, 300])
  })
})

describe('keys', () => {
  it('a key its checked String schema rejects is an invalid message; plain String keys read as written', async () => {
    const got: [unknown, number][] = []
    const logs: string[] = []
    const app = createApp({ id: 'keys' })
      .topic('checked', { key: Schema.NonEmptyString, value: Schema.Number, partitions: 1 })
      .topic('plain', { value: Schema.Number, partitions: 1 })
      .agent('a', { from: 'checked' }, async (s) => {
        for await (const [k, v] of s.items()) got.push([k, v])
      })
      .agent('b', { from: 'plain' }, async (s) => {
        for await (const e of s.events()) got.push([e.key, e.value * 10])
      })
    const t = track(await app.test({ logLevel: 'silent' }))
    ;(t.log as { warn: (m: string, f?: object) => void }).warn = (m, f) =>
      logs.push(`${m} ${JSON.stringify(f)}`)
    await t.topics.checked.send(1, { key: 'x' })
    await injectRaw(t, 'checked', '2', '')
    await t.topics.checked.send(3, { key: 'y' })
    await injectRaw(t, 'plain', '4', 'ünï')
    await injectRaw(t, 'plain', '5', '')
    await t.idle()
    // Two agents, two topics: each in its own order, no order between them.
    expect(got.filter(([, v]) => v < 10)).toEqual([
      ['x', 1],
      ['y', 3],
    ])
    expect(got.filter(([, v]) => v >= 10)).toEqual([
      ['ünï', 40],
      ['', 50],
    ])
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/invalid message skipped.*"topic":"checked","partition":0,"offset":1/)
  })
})

/** Writes bytes to a topic bypassing its schema, as another producer could. */
async function injectRaw(t: TestWorker<Registry>, topic: string, text: string, key?: string): Promise<void> {
  const broker = (t as unknown as { broker: { append: (r: unknown[]) => void } }).broker
  broker.append([
    {
      topic,
      partition: 0,
      key: key === undefined ? null : Buffer.from(key),
      value: Buffer.from(text),
      timestamp: Date.now(),
    },
  ])
}
