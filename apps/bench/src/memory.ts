/**
 * Workload "memory-agent": one agent reads 1M ~100-byte JSON messages from an
 * 8-partition memory:// topic, decodes them with a Struct schema, updates an
 * in-memory table and yields to a sink — next to the same work written by hand
 * (a plain loop over the same pre-encoded buffers), in the same process and run.
 */
import { type AppDefinition, createApp, Schema } from '@stream-app/core'
import { compileSchema, MemoryBroker, startMemoryRuntime } from '@stream-app/core/runtime'
import { alternatingRounds, type Result } from './report.ts'

const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  amount: Schema.Number,
  note: Schema.String,
})

export function makeMessages(n: number): Buffer[] {
  const out: Buffer[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const v = {
      id: `o-${String(i).padStart(7, '0')}`,
      customer: `customer-${String(i % 10_000).padStart(5, '0')}`,
      amount: (i % 1000) + 0.5,
      note: 'x'.repeat(20),
    }
    out[i] = Buffer.from(JSON.stringify(v))
  }
  return out
}

/**
 * The same work by hand: JSON.parse, the same Schema validation, a Map count, JSON.stringify to
 * bytes. The schema is compiled by Effect's JIT compiler, as stream-app compiles topic schemas:
 * both sides run the same decoder, so the ratio is the framework's own cost.
 */
export function baseline(messages: readonly Buffer[]): number {
  compileSchema(Order)
  const decode = Schema.decodeUnknownSync(Order)
  const counts = new Map<string, number>()
  const out: Buffer[] = []
  const t0 = performance.now()
  for (const m of messages) {
    const o = decode(JSON.parse(m.toString('utf8')))
    counts.set(o.customer, (counts.get(o.customer) ?? 0) + 1)
    out.push(Buffer.from(JSON.stringify(o)))
    if (out.length >= 5000) out.length = 0
  }
  const s = (performance.now() - t0) / 1000
  if (counts.size !== 10_000 && messages.length >= 10_000) throw new Error('baseline miscounted')
  return messages.length / s
}

function appDef(): AppDefinition {
  return (
    createApp({ id: 'bench-mem', commitInterval: '2.8s' })
      .topic('orders', { value: Order, partitions: 8 })
      // the sink has no schema of its own: its values are JSON.stringify'd, as in the baseline
      .topic('out', { partitions: 8 })
      .table('counts', { default: () => 0 })
      .agent('count', { from: 'orders', sink: ['out'] }, async function* (orders, ctx) {
        for await (const o of orders) {
          ctx.tables.counts.update(o.customer, (n) => n + 1)
          yield o
        }
      }).definition
  )
}

export async function framework(messages: readonly Buffer[]): Promise<number> {
  const def = appDef()
  const broker = new MemoryBroker()
  await broker.ensureTopics([{ name: 'orders', partitions: 8 }])
  for (let i = 0; i < messages.length; i += 10_000) {
    broker.append(
      messages.slice(i, i + 10_000).map((value, j) => ({
        topic: 'orders',
        partition: (i + j) % 8,
        key: null,
        value,
        timestamp: Date.now(),
      })),
    )
  }
  const t0 = performance.now()
  const w = await startMemoryRuntime(def, { broker, logLevel: 'warn', closeBroker: true })
  while (w.inspect.agentConsumed('count')! < messages.length) await new Promise((r) => setTimeout(r, 2))
  await w.commit()
  const s = (performance.now() - t0) / 1000
  if (w.inspect.tableSize('counts') !== Math.min(10_000, messages.length))
    throw new Error('framework miscounted')
  await w.stop()
  return messages.length / s
}

/** Alternating rounds (alternatingRounds), after a warm-up of both sides. */
export async function benchMemory(n = 1_000_000, rounds = 4): Promise<Result> {
  const messages = makeMessages(n)
  baseline(messages.slice(0, 50_000))
  await framework(messages.slice(0, 50_000))
  const measured = await alternatingRounds(
    rounds,
    () => framework(messages),
    () => baseline(messages),
  )
  return {
    workload: 'memory-agent (decode Struct, table update, sink)',
    messages: n,
    ...measured,
    baseline: 'hand-written loop: JSON.parse + same compiled Schema + Map + JSON.stringify to bytes',
    target: 0.6,
  }
}
