/**
 * A registry codec on a real app: two workers share an embedded sqlite://
 * broker file. `shop` declares `orders` with the Avro codec; `wire` declares
 * the same topic as raw bytes and plays a Java producer (hand-built wire-format
 * bytes) and a bad one (no magic byte, an unknown schema id). The shop agent
 * gets typed values; the bad records land in orders.dead-letter byte for byte
 * with a one-line reason, and nothing else is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, Schema, type Worker } from 'stream-app'
import { afterEach, describe, expect, it } from 'vitest'
import { mockRegistry, Order, orderAvro } from './fixtures.ts'

const stops: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

/** Waits (polling) until `f()` holds; the test fails on its own timeout otherwise. */
async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setTimeout(r, 20))
}

const idBytes = (id: number) => [0x00, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]

describe('schema registry codec in an app', () => {
  it('typed values round-trip through the broker; records it cannot read are dead-lettered as they came', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sr-app-'))
    stops.push(async () => rmSync(dir, { recursive: true, force: true }))
    const orders = await mockRegistry().avro({ subject: 'orders-value', schema: orderAvro, value: Order })
    const start = async <W extends Worker<never>>(
      app: { start: (o: object) => Promise<W> },
      name: string,
    ) => {
      const w = await app.start({
        broker: `sqlite://${join(dir, 'broker.sqlite')}`,
        store: 'memory://',
        datadir: join(dir, name),
        web: { enabled: false },
        logLevel: 'silent',
        commitInterval: '100ms',
      })
      stops.push(() => w.stop())
      return w
    }

    const got: (typeof Order.Type)[] = []
    const shop = createApp({ id: 'shop' })
      .topic('orders', { value: orders.schema, codec: 'raw', partitions: 1, onInvalid: 'dead-letter' })
      .agent('take', { from: 'orders' }, async (stream) => {
        for await (const order of stream) got.push(order)
      })
    const raw: Uint8Array[] = []
    const dead: { value: Uint8Array; error: string | undefined }[] = []
    const wire = createApp({ id: 'wire' })
      .topic('orders', { value: Schema.Uint8Array, codec: 'raw', partitions: 1 })
      .topic('orders.dead-letter', { value: Schema.Uint8Array, codec: 'raw', partitions: 1 })
      .agent('tap', { from: 'orders' }, async (stream) => {
        for await (const b of stream) raw.push(b)
      })
      .agent('dead', { from: 'orders.dead-letter' }, async (stream) => {
        for await (const e of stream.events())
          dead.push({ value: e.value, error: e.headers['stream-app.error'] })
      })
    const shopWorker = await start(shop, 'shop')
    const wireWorker = await start(wire, 'wire')

    const fromJava = Uint8Array.of(...idBytes(orders.id), 0x02, 0x78, 0x0a, 0x01, 0x00) // {x, 5, -1, false}
    const noMagic = Buffer.from('{"id":"x"}')
    const unknownId = Uint8Array.of(...idBytes(99), 0x02, 0x78, 0x0a, 0x01, 0x00)
    await wireWorker.topics.orders.send(fromJava)
    await wireWorker.topics.orders.send(noMagic)
    await shopWorker.topics.orders.send({ id: 'ab', qty: 3, delta: -2, paid: true })
    await wireWorker.topics.orders.send(unknownId)

    await until(() => got.length + dead.length === 4 && raw.length === 4)
    expect(got).toEqual([
      { id: 'x', qty: 5, delta: -1, paid: false },
      { id: 'ab', qty: 3, delta: -2, paid: true },
    ])
    // What the shop wrote is what a Java KafkaAvroSerializer writes.
    expect([...raw[2]!]).toEqual([...idBytes(orders.id), 0x04, 0x61, 0x62, 0x06, 0x03, 0x01])
    expect(dead.map((d) => Buffer.from(d.value))).toEqual([noMagic, Buffer.from(unknownId)])
    expect(dead.map((d) => d.error)).toEqual([
      'not in the Schema Registry wire format: first byte is 123, not the magic byte 0',
      `unknown schema id 99: not a version of subject 'orders-value' loaded by this worker (readable: ${orders.id})`,
    ])
  })

  it('a registry codec on a topic left on the json codec fails the send in one line instead of writing JSON', async () => {
    const orders = await mockRegistry().avro({ subject: 'orders-value', schema: orderAvro, value: Order })
    const t = await createApp({ id: 'misuse' })
      .topic('orders', { value: orders.schema })
      .test({ logLevel: 'silent' })
    stops.push(() => t.stop())
    await expect(t.topics.orders.send({ id: 'ab', qty: 3, delta: -2, paid: true })).rejects.toThrow(
      "cannot encode value for topic 'orders': a Schema Registry codec writes bytes: declare its topic with codec: 'raw'",
    )
  })
})
