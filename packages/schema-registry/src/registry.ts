/**
 * `schemaRegistry(...)`: a Confluent Schema Registry client (the one
 * @confluentinc/schemaregistry ships, or any `Client`, such as its MockClient)
 * and the three codec makers. Each maker is async and talks to the registry
 * once — registering or looking up the schema, loading every version of the
 * subject — so call them before building the app (top-level await in app.ts).
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf'
import type { ClientConfig } from '@confluentinc/schemaregistry/dist/rest-service.js'
import {
  type Client,
  type SchemaInfo,
  SchemaRegistryClient,
} from '@confluentinc/schemaregistry/dist/schemaregistry-client.js'
import { ProtobufSerializer } from '@confluentinc/schemaregistry/dist/serde/protobuf.js'
import { SerdeType } from '@confluentinc/schemaregistry/dist/serde/serde.js'
import type { AnySchema } from '@stream-app/core'
import { type AvroSchema, avroFormat, avroType } from './avro.ts'
import { makeRegistryCodec, type SchemaRegistryCodec } from './codec.ts'
import { type JsonSchemaDocument, jsonSchemaFormat, jsonValidator } from './json-schema.ts'
import { protobufFormat } from './protobuf.ts'

export type RegistryOptions =
  | {
      /** The registry's URL(s). */
      readonly url: string | readonly string[]
      /** `user:password` for HTTP basic auth. */
      readonly userInfo?: string
      /** Further settings of @confluentinc/schemaregistry's client, as they are. */
      readonly config?: Partial<ClientConfig>
    }
  | {
      /** A client to use as is (e.g. @confluentinc/schemaregistry's MockClient in tests). */
      readonly client: Client
    }

/** What every codec maker takes. */
export interface SubjectOptions {
  /** Subject the schema is registered under; for a topic's values Confluent's default is `<topic>-value`. */
  readonly subject: string
  /** Register the schema when it is not (default true, as Confluent's serializers); false: it must be registered. */
  readonly autoRegister?: boolean
  /** Ask the registry to normalize the schema first (default false). */
  readonly normalize?: boolean
}

type TypeOf<S> = S extends { readonly Type: infer T } ? T : unknown

export interface AvroOptions<S extends AnySchema | undefined> extends SubjectOptions {
  /** The reader (and writer) schema. */
  readonly schema: AvroSchema
  /** An Effect Schema the Avro value is decoded with (and encoded from): the topic's value type. */
  readonly value?: S
}

export interface JsonSchemaOptions<S extends AnySchema | undefined> extends SubjectOptions {
  readonly schema: JsonSchemaDocument
  /** Check values against the JSON Schema when written and read (default true). */
  readonly validate?: boolean
  readonly value?: S
}

export interface ProtobufOptions<D extends DescMessage> extends SubjectOptions {
  /** The message's descriptor (protobuf-es v2: `OrderSchema` from `order_pb.ts`). */
  readonly message: D
}

export interface SchemaRegistry {
  readonly client: Client
  avro<S extends AnySchema | undefined = undefined>(
    options: AvroOptions<S>,
  ): Promise<SchemaRegistryCodec<TypeOf<S>>>
  jsonSchema<S extends AnySchema | undefined = undefined>(
    options: JsonSchemaOptions<S>,
  ): Promise<SchemaRegistryCodec<TypeOf<S>>>
  protobuf<D extends DescMessage>(options: ProtobufOptions<D>): Promise<SchemaRegistryCodec<MessageShape<D>>>
}

function makeClient(options: RegistryOptions): Client {
  if ('client' in options) return options.client
  const urls = typeof options.url === 'string' ? [options.url] : [...options.url]
  const config: ClientConfig = { ...options.config, baseURLs: urls }
  if (options.userInfo !== undefined)
    config.basicAuthCredentials = { credentialsSource: 'USER_INFO', userInfo: options.userInfo }
  return new SchemaRegistryClient(config)
}

/** The id of `info` under the subject: registered (autoRegister) or looked up. */
async function schemaId(client: Client, o: SubjectOptions, info: SchemaInfo): Promise<number> {
  const normalize = o.normalize ?? false
  try {
    return o.autoRegister === false
      ? await client.getId(o.subject, info, normalize)
      : await client.register(o.subject, info, normalize)
  } catch (e) {
    const what = o.autoRegister === false ? 'look up' : 'register'
    throw new Error(
      `schema registry: cannot ${what} the schema of subject '${o.subject}': ${e instanceof Error ? e.message : String(e)}`,
    )
  }
}

const text = (s: string | object): string => (typeof s === 'string' ? s : JSON.stringify(s))

/**
 * A Schema Registry and its codec makers.
 *
 * @example
 * const registry = schemaRegistry({ url: 'http://127.0.0.1:8081' })
 * const orders = await registry.avro({ subject: 'orders-value', schema: orderAvro, value: Order })
 * export const app = createApp({ id: 'shop' }).topic('orders', { value: orders.schema, codec: 'raw' })
 */
export function schemaRegistry(options: RegistryOptions): SchemaRegistry {
  const client = makeClient(options)
  return {
    client,
    avro: async <S extends AnySchema | undefined>(o: AvroOptions<S>) => {
      const type = avroType(o.schema)
      const id = await schemaId(client, o, { schemaType: 'AVRO', schema: text(o.schema) })
      return makeRegistryCodec<TypeOf<S>>(client, avroFormat(o.subject, id, type), o.value)
    },
    jsonSchema: async <S extends AnySchema | undefined>(o: JsonSchemaOptions<S>) => {
      const doc = typeof o.schema === 'string' ? (JSON.parse(o.schema) as Record<string, unknown>) : o.schema
      const validate = o.validate === false ? undefined : jsonValidator(doc)
      const id = await schemaId(client, o, { schemaType: 'JSON', schema: text(o.schema) })
      return makeRegistryCodec<TypeOf<S>>(client, jsonSchemaFormat(o.subject, id, validate), o.value)
    },
    protobuf: async <D extends DescMessage>(o: ProtobufOptions<D>) => {
      const serializer = new ProtobufSerializer(client, SerdeType.VALUE, {
        autoRegisterSchemas: o.autoRegister ?? true,
        normalizeSchemas: o.normalize ?? false,
      })
      // The file as base64 descriptor, its imports registered or looked up as references.
      const info = await serializer.getSchemaInfo(o.message.file)
      const id = await schemaId(client, o, info)
      const indexes = serializer.toMessageIndexArray(o.message)
      return makeRegistryCodec<MessageShape<D>>(
        client,
        protobufFormat(o.subject, id, o.message, indexes),
        undefined,
      )
    },
  }
}
