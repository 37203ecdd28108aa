/**
 * What the parts of a worker share about the worker itself, created before
 * them and handed to them at construction: its state (written only by the
 * running worker, view.ts; parts read it and may ask it to crash) and the
 * slot the group consumer is held in once the worker has joined its group.
 * Parts read these objects when they need them instead of calling back
 * through closures the worker would have to hand each of them.
 */
import type { GroupConsumer } from '../ports/index.ts'
import type { WorkerState } from '../ports/sensor.ts'

/** The running worker as its parts see it. */
export interface WorkerStatus {
  readonly state: WorkerState
  /** The start has finished: from here on failures are the worker's to handle. */
  readonly started: boolean
  /** Stops the worker from the inside, saying why. */
  crash(reason: string): void
}

export const isRunning = (w: Pick<WorkerStatus, 'state'>): boolean => w.state === 'running'

/** Stopping or stopped: waits stop waiting, loops stop looping. */
export const isStopping = (w: Pick<WorkerStatus, 'state'>): boolean =>
  w.state === 'stopping' || w.state === 'stopped'

/** The consumer of a client worker (and of any worker until it joins): member of no group. */
export const nullConsumer: GroupConsumer = {
  start: async () => {},
  subscribe: async () => {},
  fetch: async () => [],
  pause: () => {},
  resume: () => {},
  seek: () => {},
  assignment: () => [],
  commit: async () => {},
  committed: async () => [],
  members: async () => [],
  wakeup: () => {},
  close: async () => {},
}

/**
 * The group consumer, once there is one. Its one writer is joinGroup
 * (rebalance.ts), which fills it as soon as the consumer exists: the
 * rebalance listener runs before the consumer's start() resolves.
 */
export class ConsumerSlot {
  private held: GroupConsumer = nullConsumer

  get current(): GroupConsumer {
    return this.held
  }

  hold(c: GroupConsumer): void {
    this.held = c
  }
}
