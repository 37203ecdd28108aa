/**
 * What the builder checks of its input, each a one-line ConfigError: names,
 * counts, flags, schemas, a topic's options, and the app's config (which
 * makeDefinition turns into an empty, frozen definition).
 */
import * as Schema from 'effect/Schema'
import { describeOf, partitionerOf } from './channel.ts'
import { type AnySchema, checkCodec } from './codec.ts'
import type { AppConfig, AppDefinition, OnInvalid, TopicDef } from './definition.ts'
import { type Duration, toMillis } from './duration.ts'
import { ConfigError } from './errors.ts'
import { checkTimezone } from './lifecycle.ts'
import { checkProduction } from './production.ts'
import { checkWebConfig } from './web-config.ts'

export const NAME = /^[a-zA-Z0-9._-]+$/

export type Def = { -readonly [K in keyof AppDefinition]: AppDefinition[K] }

export const fail = (msg: string): never => {
  throw new ConfigError(msg)
}

export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 200)
    fail(`${kind} name ${JSON.stringify(name)} is invalid: use 1-200 characters of [a-zA-Z0-9._-]`)
  return name as string
}

export function checkPositiveInt(what: string, n: unknown): number | undefined {
  if (n === undefined) return undefined
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    fail(`${what} must be a positive integer, got ${JSON.stringify(n)}`)
  return n as number
}

export function checkBoolean(what: string, v: unknown): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') fail(`${what} must be true or false, got ${JSON.stringify(v)}`)
  return v as boolean
}

export function checkSchema(what: string, s: unknown, fallback: AnySchema): AnySchema {
  if (s === undefined) return fallback
  if (!Schema.isSchema(s)) fail(`${what} must be an Effect Schema`)
  return s as AnySchema
}

export function checkOnInvalid(what: string, v: unknown): OnInvalid {
  if (v === undefined) return 'skip'
  if (v === 'skip' || v === 'dead-letter' || v === 'fail') return v
  return fail(`${what}: onInvalid must be 'skip', 'dead-letter' or 'fail', got ${JSON.stringify(v)}`)
}

export function freeze(def: Def): AppDefinition {
  return Object.freeze({
    ...def,
    topics: Object.freeze({ ...def.topics }),
    agents: Object.freeze({ ...def.agents }),
    tables: Object.freeze({ ...def.tables }),
    timers: Object.freeze({ ...def.timers }),
    crons: Object.freeze({ ...def.crons }),
    routes: Object.freeze([...def.routes]),
    commands: Object.freeze({ ...def.commands }),
    services: Object.freeze([...def.services]),
    tasks: Object.freeze({ ...def.tasks }),
    hooks: Object.freeze([...def.hooks]),
    channels: Object.freeze({ ...def.channels }),
  })
}

export function makeTopicDef(name: string, o: Record<string, unknown>, ownedBy?: string): TopicDef {
  const where = `topic '${name}'`
  return Object.freeze({
    name,
    keySchema: checkSchema(`${where} key`, o.key, Schema.String as AnySchema),
    valueSchema: checkSchema(`${where} value`, o.value, Schema.Unknown as AnySchema),
    codec: checkCodec(o.codec, where),
    partitions: checkPositiveInt(`${where} partitions`, o.partitions),
    replicas: checkPositiveInt(`${where} replicas`, o.replicas),
    retentionMs:
      o.retention === undefined ? undefined : toMillis(o.retention as Duration, `${where} retention`),
    compacted: o.compacted === true,
    config: Object.freeze({ ...((o.config as Record<string, string>) ?? {}) }),
    onInvalid: checkOnInvalid(where, o.onInvalid),
    ownedBy,
    ...(ownedBy === undefined ? describeOf(where, o.describe) : {}),
    ...partitionerOf(where, o.partitioner),
  })
}

export function asArray(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

/** Validates the config and returns an empty definition. */
export function makeDefinition(config: AppConfig): AppDefinition {
  if (config === null || typeof config !== 'object') fail('createApp: config must be an object with an id')
  if (typeof config.id !== 'string' || !NAME.test(config.id))
    fail(
      `createApp: app id ${JSON.stringify(config.id)} is invalid: use 1 or more characters of [a-zA-Z0-9._-]`,
    )
  if (config.commitInterval !== undefined) toMillis(config.commitInterval as Duration, 'commitInterval')
  checkPositiveInt('topicPartitions', config.topicPartitions)
  if (
    config.standbyReplicas !== undefined &&
    (!Number.isInteger(config.standbyReplicas) || config.standbyReplicas < 0)
  )
    fail(`standbyReplicas must be a whole number, 0 or more, got ${JSON.stringify(config.standbyReplicas)}`)
  checkPositiveInt('replicationFactor', config.replicationFactor)
  if (
    config.guarantee !== undefined &&
    config.guarantee !== 'at_least_once' &&
    config.guarantee !== 'exactly_once'
  )
    fail(`guarantee must be 'at_least_once' or 'exactly_once', got ${JSON.stringify(config.guarantee)}`)
  checkWebConfig(config.web)
  checkTimezone('createApp', config.timezone)
  const telemetry: unknown = config.telemetry
  if (
    telemetry !== undefined &&
    (telemetry === null ||
      typeof telemetry !== 'object' ||
      !['boolean', 'undefined'].includes(typeof (telemetry as { enabled?: unknown }).enabled))
  )
    fail(`telemetry must be { enabled?: boolean }, got ${JSON.stringify(telemetry)}`)
  checkProduction(config)
  return freeze({
    config: Object.freeze({ ...config }),
    topics: {},
    agents: {},
    tables: {},
    timers: {},
    crons: {},
    routes: [],
    commands: {},
    services: [],
    tasks: {},
    hooks: [],
    channels: {},
  })
}
