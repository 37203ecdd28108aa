/**
 * stream-app/client: the typed client of an app's routes, importable without
 * the worker (only hono's client and types): `client<typeof app>(url)`.
 */
export {
  type AppClient,
  type ClientOptions,
  client,
  type RouteSchema,
  type RoutesOf,
} from '@stream-app/web/client'
