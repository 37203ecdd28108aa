/** GET /tables/<set table>/<key> answers the key's members as a JSON array, over real HTTP. */
import { createApp, Schema } from '@stream-app/core'
import { expect, it } from 'vitest'
import { startWeb } from './helpers.ts'

it('answers a set table key with its members', async () => {
  const app = createApp({ id: 'web-sets', commitInterval: '50ms' })
    .topic('tags', { key: Schema.String, value: Schema.String, partitions: 1 })
    .setTable('tagged', { member: Schema.String })
    .agent('tag', { from: 'tags' }, async (tags, ctx) => {
      for await (const [k, tag] of tags.items()) ctx.tables.tagged.add(k, tag)
    })
  const w = await startWeb(app.definition)
  try {
    const send = (
      w.rt.ctx.topics as Record<string, { send(v: string, o: { key: string }): Promise<unknown> }>
    ).tags!
    await send.send('red', { key: 'car' })
    await send.send('fast', { key: 'car' })
    await send.send('red', { key: 'car' })
    await w.rt.idle()
    const r = await fetch(`${w.url}/tables/tagged/car`)
    expect(r.status).toBe(200)
    const body = (await r.json()) as { key: string; value: string[] }
    expect(body.key).toBe('car')
    expect(body.value.sort()).toEqual(['fast', 'red'])
    expect(await (await fetch(`${w.url}/tables/tagged/bike`)).json()).toEqual({ key: 'bike', value: [] })
  } finally {
    await w.stop()
  }
})
