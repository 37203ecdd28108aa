import { openKafkaBroker } from './src/index.ts'

const t0 = Date.now()
const b = await openKafkaBroker({ url: 'kafka://127.0.0.1:19092', log: console as never })
console.log('open', Date.now() - t0)
const topic = `scratch-${Date.now()}`
await b.ensureTopics([{ name: topic, partitions: 4 }])
console.log('topics', Date.now() - t0, await b.partitions(topic), await b.partitions('nope'))
const p = b.producer()
const recs = Array.from({ length: 10 }, (_, i) => ({
  topic,
  partition: i % 4,
  key: Buffer.from(`k${i}`),
  value: Buffer.from(`v${i}`),
  timestamp: 1000 + i,
  headers: { h: Buffer.from('x') },
}))
console.log('sent', (await p.send(recs)).map((m) => `${m.partition}@${m.offset}`).join(' '), Date.now() - t0)
console.log('end', await b.endOffsets([0, 1, 2, 3].map((partition) => ({ topic, partition }))))
const c = b.groupConsumer({
  groupId: `g-${topic}`,
  topics: [topic],
  memberMetadata: '{"url":"x"}',
  listener: {
    onAssign: async (tps) => console.log('assign', tps, Date.now() - t0),
    onRevoke: async (tps) => console.log('revoke', tps, Date.now() - t0),
  },
})
await c.start()
console.log('started', Date.now() - t0)
let n = 0
while (n < 10) {
  const bs = await c.fetch({ maxRecords: 100, maxWaitMs: 500 })
  for (const x of bs) n += x.records.length
  console.log(
    'fetched',
    bs.map((x) => `${x.partition}:${x.records.length}`),
    Date.now() - t0,
  )
}
await c.commit([{ topic, partition: 0, offset: 3 }])
console.log(
  'committed',
  await c.committed([
    { topic, partition: 0 },
    { topic, partition: 1 },
  ]),
)
console.log('members', JSON.stringify(await c.members()))
await c.close()
console.log('closed', Date.now() - t0)
await b.close()
console.log('done', Date.now() - t0)
