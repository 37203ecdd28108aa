/**
 * A declared topic at run time: its resolved partition count and compiled
 * serdes, and the partition choice for outgoing records (murmur2 for keyed
 * records, round robin for unkeyed ones).
 */
import * as Schema from 'effect/Schema'
import {
  type AnySchema,
  makeKeySerde,
  makeSerde,
  type Serde,
  type TextRecord,
} from '../../definition/codec.ts'
import type { TopicDef } from '../../definition/definition.ts'
import { ConfigError, EncodeError, messageOf } from '../../definition/errors.ts'
import { type Headers, NO_HEADERS, type ProduceRecord, type TopicSpec } from '../../ports/index.ts'
import { partitionForKey, partitionWith } from '../../ports/partitioner.ts'

/**
 * An outgoing record, built in the shape of a consumed one (offset to be filled
 * in by the broker) so an in-process broker can keep it as is. A class, not an
 * object literal: V8 tracks the survival of a literal's allocation site and,
 * when a busy pipeline keeps many of them alive across a young collection,
 * starts allocating every later one in the old generation. On a Kafka
 * passthrough that turned each sink record (and, through it, the consumed value
 * buffer it points at) into old-generation garbage: most of the full
 * collections of a run. Instances of a class are always allocated young.
 */
class OutRecord implements ProduceRecord, TextRecord {
  offset = -1
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly timestamp: number,
    readonly key: Uint8Array | null,
    public value: Uint8Array | null,
    readonly headers: Headers,
    public text: string | undefined,
  ) {}
}

export class TopicRuntime {
  readonly name: string
  readonly keySerde: Serde<unknown>
  readonly valueSerde: Serde<unknown>
  /** Keys are written as UTF-8 text (a String key schema): decoding and encoding them again gives the same bytes. */
  readonly stringKeys: boolean
  /**
   * A plain String key schema (no checks, no transformation): decoding a key is reading its
   * bytes as UTF-8 and cannot fail, so a consumed key is decoded only when something reads it.
   */
  readonly lazyKeys: boolean
  private rr = 0

  constructor(
    readonly def: TopicDef,
    readonly partitions: number,
  ) {
    this.name = def.name
    this.keySerde = makeKeySerde(def.keySchema)
    const ast = def.keySchema.ast
    this.stringKeys = ast._tag === 'String'
    this.lazyKeys = this.stringKeys && ast.checks === undefined && ast.encoding === undefined
    this.valueSerde = makeSerde(def.valueSchema, def.codec)
  }

  get spec(): TopicSpec {
    const d = this.def
    return {
      name: d.name,
      partitions: this.partitions,
      ...(d.replicas !== undefined ? { replicas: d.replicas } : {}),
      ...(d.retentionMs !== undefined ? { retentionMs: d.retentionMs } : {}),
      compacted: d.compacted,
      config: d.config,
    }
  }

  partitionFor(keyBytes: Uint8Array | null, explicit: number | undefined): number {
    if (explicit !== undefined) {
      if (!Number.isInteger(explicit) || explicit < 0 || explicit >= this.partitions)
        throw new ConfigError(`topic '${this.name}' has no partition ${explicit} (it has ${this.partitions})`)
      return explicit
    }
    if (keyBytes !== null) return partitionWith(this.def.partitioner, keyBytes, this.partitions)
    this.rr = (this.rr + 1) % this.partitions
    return this.rr
  }

  /** Encodes a value (and key) into a record; throws EncodeError naming the topic. */
  record(
    value: unknown,
    key: unknown,
    timestamp: number,
    headers: Headers | undefined,
    partition?: number,
    /** A key this topic's key schema rejects is dropped instead of failing (sinks keep the event's key when they can). */
    keyOptional = false,
    /** The key already encoded for this topic (a sink forwarding its event's key bytes). */
    encodedKey?: Uint8Array,
  ): ProduceRecord {
    let keyBytes: Uint8Array | null
    let valueBytes: Uint8Array | null
    if (encodedKey !== undefined) keyBytes = encodedKey
    else
      try {
        keyBytes = key === undefined || key === null ? null : this.keySerde.encode(key)
      } catch (e) {
        if (!keyOptional)
          throw new EncodeError(`cannot encode key for topic '${this.name}': ${messageOf(e)}`, this.name, {
            cause: e,
          })
        keyBytes = null
      }
    // json and string values stay text here: the outbox makes the bytes of a whole batch at once.
    let text: string | null | undefined
    const encodeText = this.valueSerde.encodeText
    try {
      if (encodeText !== undefined) {
        text = encodeText(value)
        valueBytes = null
      } else valueBytes = this.valueSerde.encode(value)
    } catch (e) {
      throw new EncodeError(`cannot encode value for topic '${this.name}': ${messageOf(e)}`, this.name, {
        cause: e,
      })
    }
    return new OutRecord(
      this.name,
      this.def.repartition === true && partition === undefined && key !== undefined && key !== null
        ? partitionForKey(
            Buffer.from(typeof key === 'string' ? key : (JSON.stringify(key) ?? ''), 'utf8'),
            this.partitions,
          )
        : this.partitionFor(keyBytes, partition),
      timestamp,
      keyBytes,
      valueBytes,
      headers ?? NO_HEADERS,
      text ?? undefined,
    )
  }
}

/** An internal topic (repartition) carrying JSON keys and the upstream's value serde. */
export function internalTopicDef(
  name: string,
  partitions: number | undefined,
  valueSchema?: AnySchema,
): TopicDef {
  return Object.freeze({
    name,
    keySchema: Schema.Unknown as AnySchema,
    valueSchema: valueSchema ?? (Schema.Unknown as AnySchema),
    codec: 'json' as const,
    partitions,
    replicas: undefined,
    retentionMs: undefined,
    compacted: false,
    config: {},
    onInvalid: 'skip' as const,
    ownedBy: undefined,
    repartition: true,
  })
}

export function encodeHeaders(
  h: Readonly<Record<string, string | Uint8Array>> | undefined,
): Headers | undefined {
  if (!h) return undefined
  const out: Record<string, Uint8Array> = {}
  for (const [k, v] of Object.entries(h)) out[k] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v
  return out
}

export function decodeHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k in h) {
    const v = h[k]!
    out[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8')
  }
  return out
}
