/**
 * A typed HTTP client for an app's routes: `client<typeof app>(url)` is hono's
 * `hc` over a schema built from the routes the app's builder accumulated, so
 * paths, params and JSON responses are typed and a wrong path or a missing
 * param is a compile error. Imports only hono's client, never the worker.
 */
import type { App, Registry } from '@stream-app/core'
import type { Hono } from 'hono'
import { type ClientRequestOptions, hc } from 'hono/client'
import type { Schema as HonoSchema, ToSchema } from 'hono/types'

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never

/** The routes an app declared (the registry's `routes` bag). */
export type RoutesOf<A> = A extends App<infer R extends Registry> ? R['routes'] : never

/** hono's schema for those routes: one endpoint per method and path, typed by what the handler returns. */
export type RouteSchema<Routes> = [keyof Routes] extends [never]
  ? {}
  : UnionToIntersection<
      {
        [K in keyof Routes]: Routes[K] extends {
          readonly method: infer M extends string
          readonly path: infer P extends string
          readonly response: infer Res
        }
          ? ToSchema<Lowercase<M>, P, {}, Res>
          : never
      }[keyof Routes]
    >

type SchemaOf<A> = RouteSchema<RoutesOf<A>> extends infer S extends HonoSchema ? S : {}

/** The typed client of an app's routes. */
export type AppClient<A> = ReturnType<typeof hc<Hono<{}, SchemaOf<A>, '/'>>>

/** hono's client options, plus the worker's web token (`web.token`), sent as `Authorization: Bearer`. */
export type ClientOptions = ClientRequestOptions & { readonly token?: string }

/**
 * A typed client for the routes of `A` (pass `typeof app`) on a running
 * worker at `baseUrl`, e.g. `await client<typeof app>(url, { token }).orders[':id'].$get({ param: { id: '1' } })`.
 */
export function client<A>(baseUrl: string, options?: ClientOptions): AppClient<A> {
  if (options?.token === undefined) return hc(baseUrl, options) as AppClient<A>
  const { token, headers, ...rest } = options
  const auth = `Bearer ${token}`
  // Given headers (an object or a function of them) go on; the token is added to them.
  const withToken: ClientRequestOptions['headers'] =
    typeof headers === 'function'
      ? async () => ({ ...(await headers()), authorization: auth })
      : { ...headers, authorization: auth }
  return hc(baseUrl, { ...rest, headers: withToken }) as AppClient<A>
}
