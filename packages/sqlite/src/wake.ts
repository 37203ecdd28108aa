/**
 * Wake-ups for long-polling fetches, without busy-waiting. Appends in this
 * process notify every broker on the same file directly; appends by another
 * process are noticed through an inotify-style watch on the database's
 * directory (SQLite writes the `-wal` file on every commit). One watch per file
 * per process, shared by every broker instance that has the file open.
 */
import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname } from 'node:path'

/** external: the change may come from another process (check the database before trusting it). */
export type ChangeListener = (external: boolean) => void

class Hub {
  readonly listeners = new Set<ChangeListener>()
  watcher: FSWatcher | undefined
  /** Set when the watch could not start or died: brokers then poll faster. */
  failed: unknown

  constructor(readonly file: string) {
    const base = basename(file)
    const names = new Set([base, `${base}-wal`])
    try {
      this.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || names.has(name.toString())) this.emit(true)
      })
      this.watcher.on('error', (e) => {
        this.failed = e
        this.watcher?.close()
        this.watcher = undefined
      })
    } catch (e) {
      this.failed = e
    }
  }

  emit(external: boolean): void {
    for (const l of [...this.listeners]) l(external)
  }
}

const hubs = new Map<string, Hub>()

export interface Subscription {
  /** Tells every other subscriber on this file in this process that we committed. */
  notifyLocal(): void
  /** True when cross-process notification is unavailable (poll instead). */
  readonly degraded: boolean
  unsubscribe(): void
}

export function subscribeFile(file: string, listener: ChangeListener): Subscription {
  let hub = hubs.get(file)
  if (!hub) hubs.set(file, (hub = new Hub(file)))
  const h = hub
  h.listeners.add(listener)
  return {
    notifyLocal: () => h.emit(false),
    get degraded() {
      return h.watcher === undefined
    },
    unsubscribe: () => {
      h.listeners.delete(listener)
      if (h.listeners.size === 0) {
        h.watcher?.close()
        hubs.delete(file)
      }
    },
  }
}
