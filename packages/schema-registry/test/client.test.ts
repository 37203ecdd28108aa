/**
 * The real @confluentinc/schemaregistry HTTP client behind `{ url }`: with no
 * registry listening, resolving a codec fails with one line that names the
 * subject (no registry server can run here; see README "Schema Registry").
 */
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { schemaRegistry } from '../src/index.ts'

/** A local port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

describe('registry client', () => {
  it('an unreachable registry is a one-line error naming the subject', async () => {
    const port = await closedPort()
    const registry = schemaRegistry({ url: `http://127.0.0.1:${port}`, config: { maxRetries: 0 } })
    await expect(registry.avro({ subject: 'orders-value', schema: '"string"' })).rejects.toThrow(
      `schema registry: cannot register the schema of subject 'orders-value': connect ECONNREFUSED 127.0.0.1:${port}`,
    )
  })
})
