/**
 * The typed route client: `client<typeof app>(url)` calls the routes of a real
 * worker over HTTP, with params, bodies and JSON responses typed from the
 * builder; a wrong path, a missing param or a wrong response field is a
 * compile error (checked by tsc in the test command).
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { client } from '../src/client.ts'
import { type Running, shop, startWeb } from './helpers.ts'

const app = shop()
let w: Running
beforeAll(async () => {
  w = await startWeb(app.definition)
})
afterAll(() => w?.stop())

describe('client<typeof app>()', () => {
  it('calls the routes over HTTP with typed params and responses', async () => {
    const api = client<typeof app>(w.url)
    const bonus = await api.owned[':customer'].bonus.$post(
      { param: { customer: 'ann' } },
      {
        init: { body: JSON.stringify({ amount: 7 }), headers: { 'content-type': 'application/json' } },
      },
    )
    expect(bonus.status).toBe(201)
    const added = await bonus.json()
    expectTypeOf(added).toEqualTypeOf<{ revenue: number }>()
    expect(added).toEqual({ revenue: 7 })

    const res = await api.revenue[':customer'].$get({ param: { customer: 'ann' } })
    const body = await res.json()
    expectTypeOf(body).toEqualTypeOf<{ revenue: number }>()
    expect(body).toEqual({ revenue: 7 })

    const owned = await api.owned[':customer'].$get({ param: { customer: 'ann' } })
    const o = await owned.json()
    expectTypeOf(o).toEqualTypeOf<{ revenue: number; q: string | null }>()
    expect(o).toEqual({ revenue: 7, q: null })

    const slow = await api.slow[':ms'].$get({ param: { ms: '1' } })
    expect(await slow.text()).toBe('done')
  })

  it('makes a wrong path, a missing param or a wrong field a compile error', () => {
    const api = client<typeof app>('http://127.0.0.1:1')
    // Type-level only: none of these run.
    const never = (_f: () => unknown) => {}
    // @ts-expect-error no route /revenues
    never(() => api.revenues[':customer'].$get({ param: { customer: 'x' } }))
    // @ts-expect-error the param is `customer`
    never(() => api.revenue[':customer'].$get({ param: { name: 'x' } }))
    // @ts-expect-error GET /revenue/:customer takes a param
    never(() => api.revenue[':customer'].$get())
    // @ts-expect-error no POST on /revenue/:customer
    never(() => api.revenue[':customer'].$post({ param: { customer: 'x' } }))
    never(async () => {
      const r = await (await api.revenue[':customer'].$get({ param: { customer: 'x' } })).json()
      // @ts-expect-error the response has no `total`
      r.total
    })
  })
})
