/**
 * Who closes a client. The kafka:// broker owns every consumer, reader and
 * transactional producer it hands out and closes those still open when it
 * closes; a client its user closes tells its owner, which forgets it. The
 * client gets its owner at construction (explicit, typed), rather than the
 * broker replacing its close() after the fact.
 */

export interface Closable {
  close(): Promise<void>
}

/** What a client is told at construction: whom to tell that its user closed it. */
export interface Owner {
  /** The client is closing by its user's hand: the owner must not close it again. */
  release(client: Closable): void
}

/** The clients a broker handed out that are still open. */
export class OpenClients implements Owner {
  private readonly open = new Set<Closable>()

  /** Takes a client made with this as its owner; returns it for the caller to hand out. */
  adopt<T extends Closable>(client: T): T {
    this.open.add(client)
    return client
  }

  release(client: Closable): void {
    this.open.delete(client)
  }

  /** How many are still open (not closed by their user nor by closeAll). */
  get size(): number {
    return this.open.size
  }

  /** Closes each client still open, once; one that fails to close does not keep the others open. */
  async closeAll(): Promise<void> {
    const all = [...this.open]
    this.open.clear()
    await Promise.allSettled(all.map((c) => c.close()))
  }
}
