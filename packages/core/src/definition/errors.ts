/**
 * The errors users see. Each is tagged and says whether retrying can help, so
 * the runtime (and users) can decide between backing off and giving up.
 */
import * as Match from 'effect/Match'

export abstract class StreamAppError extends Error {
  abstract readonly _tag: string
  /** True when the same operation may succeed later (a broker that is away, a lock). */
  abstract readonly retriable: boolean
}

/** A mistake in the app definition or configuration: fix the code, retrying won't help. */
export class ConfigError extends StreamAppError {
  readonly _tag = 'ConfigError'
  readonly retriable = false
  override name = 'ConfigError'
}

/** A message that fails to decode or validate against its topic's schema. */
export class DecodeError extends StreamAppError {
  readonly _tag = 'DecodeError'
  readonly retriable = false
  override name = 'DecodeError'
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`invalid message on ${topic}[${partition}]@${offset}: ${reason}`)
  }
}

/**
 * A value (or key) that its topic's schema refuses on send. The message is one
 * line naming the topic and what the schema said; a route whose send fails this
 * way answers 400 with it, and an app may catch it (`e instanceof EncodeError`,
 * or `e._tag === 'EncodeError'`) to answer otherwise.
 */
export class EncodeError extends StreamAppError {
  readonly _tag = 'EncodeError'
  readonly retriable = false
  override name = 'EncodeError'
  constructor(
    message: string,
    /** The topic the value was sent to, when known. */
    readonly topic?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The broker or store could not do what was asked; `retriable` tells if waiting may help. */
export class BrokerError extends StreamAppError {
  readonly _tag = 'BrokerError'
  override name = 'BrokerError'
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export class StoreError extends StreamAppError {
  readonly _tag = 'StoreError'
  override name = 'StoreError'
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/**
 * A stream–table join over a table not partitioned like the stream: joining
 * would read keys other workers hold. Restarting cannot help, so the agent
 * stops at the message, which stays uncommitted.
 */
export class NotCopartitionedError extends StreamAppError {
  readonly _tag = 'NotCopartitionedError'
  readonly retriable = false
  override name = 'NotCopartitionedError'
}

/** `ask()` got no reply in time. */
export class AskTimeoutError extends StreamAppError {
  readonly _tag = 'AskTimeoutError'
  readonly retriable = true
  override name = 'AskTimeoutError'
}

/**
 * A table key this worker does not hold: its partition belongs to another
 * worker (or the table is read-only here, in a CLI command). Answering it here
 * would be a silent default; a route declared with `{ table, key }` is
 * forwarded to the owner instead, and an agent must only touch keys of the
 * partitions it consumes (co-partitioning).
 */
export class NotOwnedError extends StreamAppError {
  readonly _tag = 'NotOwnedError'
  /** Ownership moves with rebalances: asking again (of the owner) may succeed. */
  readonly retriable = true
  override name = 'NotOwnedError'
  constructor(
    message: string,
    readonly table: string,
    readonly partition: number,
  ) {
    super(message)
  }
}

/** idle() found the worker still busy when its timeout ran out. */
export class IdleTimeoutError extends StreamAppError {
  readonly _tag = 'IdleTimeoutError'
  readonly retriable = true
  override name = 'IdleTimeoutError'
}

/** The worker stopped itself: it could not go on (its table state could not be loaded). */
export class WorkerFailedError extends StreamAppError {
  readonly _tag = 'WorkerFailedError'
  readonly retriable = false
  override name = 'WorkerFailedError'
}

/** An operation on a worker that is stopping or stopped. */
export class StoppedError extends StreamAppError {
  readonly _tag = 'StoppedError'
  readonly retriable = false
  override name = 'StoppedError'
}

/**
 * Anything that failed and is not one of the errors above: a bug, or an error
 * thrown by user code or a library. Never retried; `cause` is the original,
 * which is what callers outside the runtime get back (see `unwrapFailure`).
 */
export class UnexpectedError extends StreamAppError {
  readonly _tag = 'UnexpectedError'
  readonly retriable = false
  override name = 'UnexpectedError'
  constructor(override readonly cause: unknown) {
    super(messageOf(cause), { cause })
  }
}

/** Every failure the runtime's effects carry: a tagged union, matched by `_tag`. */
export type Failure =
  | ConfigError
  | DecodeError
  | EncodeError
  | BrokerError
  | StoreError
  | NotCopartitionedError
  | AskTimeoutError
  | NotOwnedError
  | IdleTimeoutError
  | WorkerFailedError
  | StoppedError
  | UnexpectedError

const TAGS = new Set<string>([
  'ConfigError',
  'DecodeError',
  'EncodeError',
  'BrokerError',
  'StoreError',
  'NotCopartitionedError',
  'AskTimeoutError',
  'NotOwnedError',
  'IdleTimeoutError',
  'WorkerFailedError',
  'StoppedError',
  'UnexpectedError',
])

/**
 * What a promise or a throw failed with, as a Failure: ours as they are (an
 * adapter's error keeps its tag and its `retriable`), anything else wrapped.
 * The one `catch` of every `Effect.try`/`tryPromise` in the runtime.
 */
export const asFailure = (e: unknown): Failure =>
  e instanceof StreamAppError && TAGS.has(e._tag) ? (e as Failure) : new UnexpectedError(e)

/** The error to hand back to a caller outside the runtime: an unexpected one as it was thrown. */
export const unwrapFailure = (e: unknown): unknown => (e instanceof UnexpectedError ? e.cause : e)

/**
 * Whether retrying a failure can help, decided by its tag: the fixed answer of
 * each kind, and for a broker's or a store's error what the adapter said when
 * it mapped its client's error (`retriable`). Exhaustive: a new member of the
 * union does not compile until it is decided here. The one retry decision of
 * the runtime; a caught `unknown` goes through `asFailure` first.
 */
export const retriable: (f: Failure) => boolean = Match.type<Failure>().pipe(
  Match.tagsExhaustive({
    BrokerError: (e) => e.retriable,
    StoreError: (e) => e.retriable,
    AskTimeoutError: () => true,
    NotOwnedError: () => true,
    IdleTimeoutError: () => true,
    ConfigError: () => false,
    DecodeError: () => false,
    EncodeError: () => false,
    NotCopartitionedError: () => false,
    WorkerFailedError: () => false,
    StoppedError: () => false,
    UnexpectedError: () => false,
  }),
)

/** An error's message as one line (schema errors span several): the one message helper. */
export const messageOf = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim()
