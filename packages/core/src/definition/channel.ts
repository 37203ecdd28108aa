/**
 * Definition-time pieces of issue 23 the builder calls: channels (in-process
 * queues agents read like topics) and the small options topics, agents and
 * tables gained (describe, a topic's partitioner, a table's partitioning).
 * Each returns a frozen, checked value or throws one clear ConfigError.
 */
import * as Schema from 'effect/Schema'
import type { AnySchema } from './codec.ts'
import type { ChannelDef, Partitioner } from './definition.ts'
import { ConfigError } from './errors.ts'

const fail = (msg: string): never => {
  throw new ConfigError(msg)
}

const schemaOr = (what: string, s: unknown, fallback: AnySchema): AnySchema => {
  if (s === undefined) return fallback
  if (!Schema.isSchema(s)) fail(`${what} must be an Effect Schema`)
  return s as AnySchema
}

export function makeChannelDef(name: string, o: Record<string, unknown> | undefined): ChannelDef {
  const where = `channel '${name}'`
  if (o !== undefined && (o === null || typeof o !== 'object')) fail(`${where}: options must be an object`)
  const options = o ?? {}
  const maxsize = options.maxsize
  if (maxsize !== undefined && (typeof maxsize !== 'number' || !Number.isInteger(maxsize) || maxsize < 1))
    fail(`${where}: maxsize must be a positive integer, got ${JSON.stringify(maxsize)}`)
  return Object.freeze({
    name,
    keySchema: schemaOr(`${where} key`, options.key, Schema.String as AnySchema),
    valueSchema: schemaOr(`${where} value`, options.value, Schema.Unknown as AnySchema),
    maxsize: maxsize as number | undefined,
    ...describeOf(where, options.describe),
  })
}

/** `{ describe }` when given (a string), else nothing. */
export function describeOf(where: string, v: unknown): { readonly describe?: string } {
  if (v === undefined) return {}
  if (typeof v !== 'string') fail(`${where}: describe must be a string, got ${JSON.stringify(v)}`)
  return { describe: v as string }
}

export function partitionerOf(where: string, v: unknown): { readonly partitioner?: Partitioner } {
  if (v === undefined) return {}
  if (v !== 'murmur2' && v !== 'crc32')
    fail(`${where}: partitioner must be 'murmur2' or 'crc32', got ${JSON.stringify(v)}`)
  return { partitioner: v as Partitioner }
}

export function partitioningOf(where: string, v: unknown): { readonly partitioning?: 'key' | 'event' } {
  if (v === undefined) return {}
  if (v !== 'key' && v !== 'event')
    fail(`${where}: partitioning must be 'key' or 'event', got ${JSON.stringify(v)}`)
  return { partitioning: v as 'key' | 'event' }
}

/**
 * What an agent reads: topics (`from`), or exactly one channel. A name that is
 * neither is the usual definition-time error.
 */
export function agentSource(
  agent: string,
  from: readonly unknown[],
  topics: Readonly<Record<string, unknown>>,
  channels: Readonly<Record<string, unknown>>,
): { readonly channel: string | undefined } {
  const named = from.filter((f): f is string => typeof f === 'string' && Object.hasOwn(channels, f))
  if (named.length === 0) {
    for (const f of from)
      if (typeof f !== 'string' || !Object.hasOwn(topics, f))
        fail(`agent '${agent}': from names an undeclared topic ${JSON.stringify(f)}`)
    return { channel: undefined }
  }
  if (from.length > 1)
    fail(
      `agent '${agent}': from names channel '${named[0]}' with other sources; an agent reads one channel, or topics`,
    )
  return { channel: named[0] }
}
