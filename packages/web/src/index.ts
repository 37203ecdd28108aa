/**
 * @stream-app/web: the HTTP face of a worker. `startWebServer` is the `web`
 * dependency of the runtime (WorkerDeps['web']); the rest is exported for
 * tooling and tests that build on the same pieces.
 */
export {
  accessGuard,
  authorized,
  GUARDED_PREFIXES,
  guardedPath,
  isLoopback,
  TOKEN_HEADER,
  tokenMatches,
} from './access.ts'
export { BUILTIN_ROUTES, createWebApp, INFO_ROUTES, type WebAppOptions } from './app.ts'
export { BodyTooLargeError, limitBody } from './body-limit.ts'
export {
  type AgentInfo,
  listAgents,
  listTables,
  listTopics,
  type TableInfo,
  type TopicInfo,
} from './describe.ts'
export { forwardTraced, serveTraced } from './http-tracing.ts'
export { LAG_TIMEOUT_MS, lagWithin } from './lag.ts'
export { WorkerMetrics } from './metrics.ts'
export { LIVE_PAGE_CSP, LIVE_PAGE_HTML, livePage } from './page.ts'
export type {} from './route-context.ts'
export {
  DEFAULT_TIMEOUTS,
  type ServeOptions,
  type ServerTimeouts,
  serveFetch,
  startWebServer,
  type WebServerOptions,
} from './server.ts'
export { answerAtOwner, FORWARDED_HEADER, forwardRequest } from './tables.ts'
export { INSTRUMENTATION, OtelTracing, otelTracing, recordContext } from './telemetry.ts'
export { formatTraceContext, parseTraceContext, TRACEPARENT, TRACESTATE } from './trace-context.ts'
