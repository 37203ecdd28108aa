/**
 * Agents as services: `pow` asks `mul` for each product and answers its own
 * callers with the result. `npx stream-app x100 apps/examples/rpc.ts --value 3`
 * prints 300.
 */
import { createApp, Schema } from 'stream-app'

const Mul = Schema.Struct({ a: Schema.Number, b: Schema.Number })

export const app = createApp({ id: 'rpc' })
  .agent('mul', { value: Mul }, async function* (pairs) {
    for await (const { a, b } of pairs) yield a * b
  })
  .agent(
    'pow',
    { value: Schema.Struct({ base: Schema.Number, exp: Schema.Number }) },
    async function* (reqs, ctx) {
      for await (const { base, exp } of reqs) {
        let acc = 1
        for (let i = 0; i < exp; i++) acc = await ctx.agents.mul.ask({ a: acc, b: base })
        yield acc
      }
    },
  )
  .command('x100', { options: { value: { type: 'number', demandOption: true } } }, async (args, ctx) => {
    console.log(await ctx.agents.mul.ask({ a: args.value, b: 100 }, { timeout: '10s' }))
  })

export default app
