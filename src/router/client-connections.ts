// Client connections by address: a per-client cap, so that one client (a
// slowloris, say) cannot take the whole service, and a global cap that never
// starves other clients: when it is full, a newcomer takes the place of the
// oldest connection of the client that holds the most.
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Connections at once, all clients together. */
  maxConnections: number;
  /** Connections one client address may hold; 0 = no limit. */
  maxConnectionsPerClient: number;
}

/** Why a connection was not admitted: the status its refusal carries. */
export type Refusal = 429 | 503;

export class ClientConnections {
  /** Insertion-ordered: the first socket of a set is that client's oldest. */
  readonly #byClient = new Map<string, Set<Socket>>();
  #total = 0;
  limits: ConnectionLimits;

  constructor(limits: ConnectionLimits) {
    this.limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  /** Admits `socket` (and tracks it until it closes), or says why not. */
  admit(socket: Socket): Refusal | undefined {
    const address = socket.remoteAddress ?? '';
    const own = this.#byClient.get(address);
    const perClient = this.limits.maxConnectionsPerClient;
    if (perClient > 0 && own !== undefined && own.size >= perClient) return 429;
    if (this.#total >= this.limits.maxConnections && !this.#makeRoom(own?.size ?? 0)) return 503;
    let set = own;
    if (!set) {
      set = new Set();
      this.#byClient.set(address, set);
    }
    set.add(socket);
    this.#total += 1;
    const tracked = set;
    socket.once('close', () => {
      if (!tracked.delete(socket)) return;
      this.#total -= 1;
      if (tracked.size === 0 && this.#byClient.get(address) === tracked) this.#byClient.delete(address);
    });
    return undefined;
  }

  /** Closes the oldest connection of the biggest client, if it holds more than a client with `own` would after admission. */
  #makeRoom(own: number): boolean {
    let biggest: Set<Socket> | undefined;
    for (const set of this.#byClient.values()) if (!biggest || set.size > biggest.size) biggest = set;
    if (!biggest || biggest.size <= own + 1) return false;
    const oldest = biggest.values().next().value as Socket;
    biggest.delete(oldest);
    this.#total -= 1;
    oldest.destroy();
    return true;
  }
}
