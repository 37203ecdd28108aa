/**
 * The lifecycle part of a definition: services (resources a worker owns from
 * start to stop), tasks (run once when the worker is ready), hooks on the
 * worker's lifecycle and on rebalances, and the onError handlers of agents,
 * timers and cron jobs. The builder validates them here, at definition time.
 */
import * as Layer from 'effect/Layer'
import type { AppDefinition } from './definition.ts'
import { type Duration, toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'

export type HookEvent = 'ready' | 'stopping' | 'partitionsAssigned' | 'partitionsRevoked'
export const HOOK_EVENTS: readonly HookEvent[] = [
  'ready',
  'stopping',
  'partitionsAssigned',
  'partitionsRevoked',
]

/** How long a hook, a service's stop or an onError may run before the worker goes on without it. */
export const HOOK_TIMEOUT_MS = 30_000

export type OnErrorFn = (error: unknown, ctx: unknown, event?: unknown) => unknown

export interface ServiceDef {
  readonly name: string
  /** The resource, from `start(ctx)`; or from `layer` (an Effect Layer providing one service). */
  readonly start: ((ctx: unknown) => unknown) | undefined
  readonly stop: ((resource: unknown, ctx: unknown) => unknown) | undefined
  readonly layer: Layer.Layer<unknown, unknown, never> | undefined
}

export interface TaskDef {
  readonly name: string
  readonly fn: (ctx: unknown) => unknown
  readonly onError: OnErrorFn | undefined
}

export interface HookDef {
  readonly event: HookEvent
  /** `(ctx)` for ready/stopping, `(partitions, ctx)` for the rebalance events. */
  readonly fn: (...args: unknown[]) => unknown
  readonly timeoutMs: number
}

const fail = (msg: string): never => {
  throw new ConfigError(msg)
}

export function checkOnError(where: string, v: unknown): OnErrorFn | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'function') fail(`${where}: onError must be a function (error, ctx, event?) => void`)
  return v as OnErrorFn
}

export function makeServiceDef(name: string, spec: unknown): ServiceDef {
  const where = `service '${name}'`
  if (Layer.isLayer(spec))
    return Object.freeze({
      name,
      start: undefined,
      stop: undefined,
      layer: spec as Layer.Layer<unknown, unknown, never>,
    })
  const o = spec as { start?: unknown; stop?: unknown } | null
  if (o === null || typeof o !== 'object' || typeof o.start !== 'function')
    fail(`${where}: expected { start: (ctx) => resource, stop?: (resource, ctx) => void } or an Effect Layer`)
  if (o!.stop !== undefined && typeof o!.stop !== 'function')
    fail(`${where}: stop must be a function (resource, ctx) => void`)
  return Object.freeze({
    name,
    start: o!.start as ServiceDef['start'],
    stop: o!.stop as ServiceDef['stop'],
    layer: undefined,
  })
}

/** `.task(name, fn)` or `.task(name, { onError }, fn)`. */
export function makeTaskDef(name: string, a: unknown, b: unknown): TaskDef {
  const where = `task '${name}'`
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b]
  if (options === null || typeof options !== 'object') fail(`${where}: options must be an object`)
  if (typeof fn !== 'function') fail(`${where}: fn must be a function (ctx) => void`)
  return Object.freeze({
    name,
    fn: fn as TaskDef['fn'],
    onError: checkOnError(where, (options as { onError?: unknown }).onError),
  })
}

export function makeHookDef(event: unknown, fn: unknown, options: unknown): HookDef {
  if (!HOOK_EVENTS.includes(event as HookEvent))
    fail(
      `on: unknown event ${JSON.stringify(event)}; use one of ${HOOK_EVENTS.map((e) => `'${e}'`).join(', ')}`,
    )
  if (typeof fn !== 'function') fail(`on('${event as string}'): the hook must be a function`)
  const o = (options ?? {}) as { timeout?: unknown }
  const timeoutMs =
    o.timeout === undefined
      ? HOOK_TIMEOUT_MS
      : toMillis(o.timeout as Duration, `on('${event as string}') timeout`)
  return Object.freeze({ event: event as HookEvent, fn: fn as HookDef['fn'], timeoutMs })
}

/** A time zone the runtime can schedule in (Intl knows it). */
export function checkTimezone(where: string, tz: unknown): string | undefined {
  if (tz === undefined) return undefined
  try {
    if (typeof tz !== 'string') throw new Error('not a string')
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
  } catch {
    fail(
      `${where}: unknown time zone ${JSON.stringify(tz)} (use an IANA name such as 'UTC' or 'Europe/Paris')`,
    )
  }
  return tz as string
}

type Mutable = { -readonly [K in keyof AppDefinition]: AppDefinition[K] }
const NAME = /^[a-zA-Z0-9._-]{1,200}$/
const checkName = (kind: string, name: unknown): string => {
  if (typeof name !== 'string' || !NAME.test(name))
    fail(`${kind} name ${JSON.stringify(name)} is invalid: use 1-200 characters of [a-zA-Z0-9._-]`)
  return name as string
}

/** The builder's service, task and on methods (untyped: App carries the types). */
export function lifecycleMethods<A>(def: AppDefinition, next: (change: (d: Mutable) => void) => A) {
  return {
    service(name: unknown, spec: unknown): A {
      const n = checkName('service', name)
      if (def.services.some((s) => s.name === n)) fail(`service '${n}' is declared twice`)
      const s = makeServiceDef(n, spec)
      return next((d) => {
        d.services = [...d.services, s]
      })
    },
    task(name: unknown, a: unknown, b?: unknown): A {
      const n = checkName('task', name)
      if (Object.hasOwn(def.tasks, n)) fail(`task '${n}' is declared twice`)
      const t = makeTaskDef(n, a, b)
      return next((d) => {
        d.tasks = { ...d.tasks, [n]: t }
      })
    },
    on(event: unknown, fn: unknown, options?: unknown): A {
      const h = makeHookDef(event, fn, options)
      return next((d) => {
        d.hooks = [...d.hooks, h]
      })
    },
  }
}
