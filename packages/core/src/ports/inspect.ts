/**
 * The inspection port: what the CLI, benchmarks and tooling may read of a
 * running worker beyond the WorkerView, as plain data and narrow functions.
 * It exists so nothing outside core holds the runtime's own table, agent or
 * topic objects: those change with the runtime, this does not.
 */
import type { CodecName } from '../definition/codec.ts'

/** A declared topic as this worker runs it: its partitions, codec and key kind. */
export interface TopicInspection {
  readonly name: string
  readonly partitions: number
  readonly codec: CodecName
  /** Keys are UTF-8 text (a String key schema): a key given as text is that text. */
  readonly stringKeys: boolean
  /**
   * Encodes a message as a send would, without sending it: throws the
   * EncodeError (or ConfigError, for a partition the topic has not) the send
   * would throw. Answers the partition the record goes to when the key or
   * `partition` decides it; undefined when an unkeyed send picks one itself.
   */
  check(
    value: unknown,
    options?: { readonly key?: unknown; readonly partition?: number },
  ): {
    readonly partition: number | undefined
  }
}

/**
 * Narrow reads of a running worker (`worker.inspect`). Key lookups go through
 * the WorkerView's `table(name)`; counters of every part through
 * `sensor.snapshot()`. These are the cheap reads a loop may poll.
 */
export interface WorkerInspection {
  /** A declared topic (not a changelog, dead-letter or internal one); undefined otherwise. */
  topic(name: string): TopicInspection | undefined
  /** Rows of a table this worker holds in memory (the partitions it owns or follows); undefined for no such table. */
  tableSize(name: string): number | undefined
  /** Messages an agent's handler took from its streams, all instances; undefined for no such agent. */
  agentConsumed(name: string): number | undefined
}
