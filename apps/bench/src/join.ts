/**
 * Workload "stream-table-join": 1M ~100-byte JSON orders from an 8-partition
 * memory:// topic, each enriched from a 100k-key customers table by its key
 * (`orders.join(ctx.tables.customers)`), the joined value yielded to a sink —
 * next to the same work by hand: JSON.parse, the same compiled schema, a Map
 * lookup, JSON.stringify to bytes. The table is loaded (through its own agent)
 * before the clock starts; the run measures the join alone.
 */
import { type AppDefinition, createApp, type ProduceRecord, Schema } from '@stream-app/core'
import { compileSchema, MemoryBroker, partitionForKey, startMemoryRuntime } from '@stream-app/core/runtime'
import { alternatingRounds, type Result } from './report.ts'

const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  amount: Schema.Number,
  note: Schema.String,
})
const Customer = Schema.Struct({ name: Schema.String, tier: Schema.String })
const KEYS = 100_000
const PARTITIONS = 8

const customerKey = (i: number) => `c-${String(i % KEYS).padStart(6, '0')}`

interface Input {
  readonly orders: { key: Buffer; value: Buffer; partition: number }[]
  readonly customers: { key: Buffer; value: Buffer; partition: number }[]
}

function makeInput(n: number): Input {
  const part = new Map<string, number>()
  const partitionOf = (k: string, b: Buffer) => {
    let p = part.get(k)
    if (p === undefined) part.set(k, (p = partitionForKey(b, PARTITIONS)))
    return p
  }
  const customers = Array.from({ length: KEYS }, (_, i) => {
    const k = customerKey(i)
    const key = Buffer.from(k)
    return {
      key,
      value: Buffer.from(JSON.stringify({ name: `Name ${i}`, tier: i % 3 ? 'silver' : 'gold' })),
      partition: partitionOf(k, key),
    }
  })
  const orders = Array.from({ length: n }, (_, i) => {
    const k = customerKey(i)
    const key = Buffer.from(k)
    const value = Buffer.from(
      JSON.stringify({
        id: `o-${String(i).padStart(7, '0')}`,
        customer: k,
        amount: (i % 1000) + 0.5,
        note: 'x'.repeat(20),
      }),
    )
    return { key, value, partition: partitionOf(k, key) }
  })
  return { orders, customers }
}

function baseline(input: Input): number {
  compileSchema(Order)
  compileSchema(Customer)
  const decode = Schema.decodeUnknownSync(Order)
  const decodeCustomer = Schema.decodeUnknownSync(Customer)
  const table = new Map<string, typeof Customer.Type>()
  for (const c of input.customers)
    table.set(c.key.toString('utf8'), decodeCustomer(JSON.parse(c.value.toString('utf8'))))
  const out: Buffer[] = []
  let joined = 0
  const t0 = performance.now()
  for (const m of input.orders) {
    const o = decode(JSON.parse(m.value.toString('utf8')))
    const c = table.get(m.key.toString('utf8'))
    if (c === undefined) continue
    joined++
    out.push(Buffer.from(JSON.stringify({ id: o.id, amount: o.amount, name: c.name, tier: c.tier })))
    if (out.length >= 5000) out.length = 0
  }
  const s = (performance.now() - t0) / 1000
  if (joined !== input.orders.length) throw new Error('baseline joined too few')
  return input.orders.length / s
}

function appDef(): AppDefinition {
  return createApp({ id: 'bench-join', commitInterval: '2.8s' })
    .topic('orders', { key: Schema.String, value: Order, partitions: PARTITIONS })
    .topic('customers', { key: Schema.String, value: Customer, partitions: PARTITIONS })
    .topic('enriched', { partitions: PARTITIONS })
    .table('customers', { value: Customer, default: () => ({ name: '', tier: '' }) })
    .agent('load', { from: 'customers' }, async (cs, ctx) => {
      for await (const [k, c] of cs.items()) ctx.tables.customers.set(k, c)
    })
    .agent('enrich', { from: 'orders', sink: ['enriched'] }, async function* (orders, ctx) {
      for await (const [o, c] of orders.join(ctx.tables.customers))
        yield { id: o.id, amount: o.amount, name: c.name, tier: c.tier }
    }).definition
}

async function framework(input: Input): Promise<number> {
  const broker = new MemoryBroker()
  await broker.ensureTopics([
    { name: 'orders', partitions: PARTITIONS },
    { name: 'customers', partitions: PARTITIONS },
  ])
  broker.append(input.customers.map((c) => ({ topic: 'customers', ...c, timestamp: Date.now() })))
  const w = await startMemoryRuntime(appDef(), { broker, logLevel: 'warn', closeBroker: true })
  while (w.inspect.agentConsumed('load')! < KEYS) await new Promise((r) => setTimeout(r, 2))
  await w.commit() // the table's changelog is written before the clock starts
  const now = Date.now()
  const chunks: ProduceRecord[][] = []
  for (let i = 0; i < input.orders.length; i += 10_000)
    chunks.push(input.orders.slice(i, i + 10_000).map((o) => ({ topic: 'orders', ...o, timestamp: now })))
  const t0 = performance.now()
  for (const c of chunks) broker.append(c)
  while (w.inspect.agentConsumed('enrich')! < input.orders.length) await new Promise((r) => setTimeout(r, 2))
  await w.commit()
  const s = (performance.now() - t0) / 1000
  const sent = (
    await broker.endOffsets(
      Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'enriched', partition })),
    )
  ).reduce((n, o) => n + o.offset, 0)
  if (sent !== input.orders.length) throw new Error(`framework joined ${sent} of ${input.orders.length}`)
  await w.stop()
  return input.orders.length / s
}

/** Alternating rounds (alternatingRounds), after a warm-up of both sides. */
export async function benchJoin(
  n = Number(process.env.BENCH_JOIN_EVENTS ?? 1_000_000),
  rounds = 3,
): Promise<Result> {
  const input = makeInput(n)
  const warm = { orders: input.orders.slice(0, 50_000), customers: input.customers }
  baseline(warm)
  await framework(warm)
  const measured = await alternatingRounds(
    rounds,
    () => framework(input),
    () => baseline(input),
  )
  return {
    workload: `stream-table-join (${n} events, ${KEYS}-key table, sink)`,
    messages: n,
    ...measured,
    baseline: 'hand-written loop: JSON.parse + same compiled Schema + Map lookup + JSON.stringify to bytes',
    target: 0.5,
  }
}
