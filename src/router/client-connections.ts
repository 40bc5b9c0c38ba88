// Client connections by address: a per-client cap, so that one client (a
// slowloris, say) cannot take the whole service, and a global cap that never
// starves other clients: when it is full, a newcomer takes the place of the
// oldest connection of the client that holds the most. A connection handed to a
// worker still counts here until the worker reports it closed.
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Connections at once, all clients together. */
  maxConnections: number;
  /** Connections one client address may hold; 0 = no limit. */
  maxConnectionsPerClient: number;
}

/** Why a connection was not admitted: the status its refusal carries. */
export type Refusal = 429 | 503;

/** One admitted connection: in this process, or handed to a worker. */
export class Ticket {
  /** Handed off: asks its worker to close it. */
  closeRemote: (() => void) | undefined;
  /** The peer is one of router.trustedProxies. */
  trusted = false;
  /** A PROXY header was looked for (only ever before the first request). */
  proxyRead = false;
  /** A trusted HTTP front's connection: the router serves it request by request. */
  front = false;

  constructor(
    readonly owner: ClientConnections,
    /** The client's address: the socket's peer, or the one a trusted front's PROXY header gave (rekey). */
    public address: string,
    /** Here: the socket. Handed off: undefined, and `closeRemote` asks the worker. */
    public socket: Socket | undefined,
  ) {}

  close(): void {
    if (this.socket !== undefined) this.socket.destroy();
    else this.closeRemote?.();
  }
}

/** The ticket of a connection, kept on its socket for the shared 'close' listener. */
const ticketOf = Symbol('ticket');
type Admitted = Socket & { [ticketOf]?: Ticket };

/** One listener for every admitted socket: its ticket is released when it closes here. */
function socketClosed(this: Admitted): void {
  const ticket = this[ticketOf];
  if (ticket !== undefined && ticket.socket === this) ticket.owner.release(ticket);
}

export class ClientConnections {
  /** Insertion-ordered: the first ticket of a set is that client's oldest. */
  readonly #byClient = new Map<string, Set<Ticket>>();
  #total = 0;
  #local = 0;
  limits: ConnectionLimits;

  constructor(limits: ConnectionLimits) {
    this.limits = limits;
  }

  /** Connections counted, here and handed off. */
  get total(): number {
    return this.#total;
  }

  /** Connections whose socket is in this process. */
  get local(): number {
    return this.#local;
  }

  /**
   * Admits `socket` (and counts it until it closes or its worker reports it
   * closed), or says why not. `perClient` false: a trusted front, which carries
   * many clients, is held to the global cap only.
   */
  admit(socket: Socket, perClient = true): Ticket | Refusal {
    const address = socket.remoteAddress ?? '';
    const own = this.#byClient.get(address);
    if (perClient && this.#full(own)) return 429;
    if (this.#total >= this.limits.maxConnections && !this.#makeRoom(own?.size ?? 0)) return 503;
    let set = own;
    if (!set) {
      set = new Set();
      this.#byClient.set(address, set);
    }
    const ticket = new Ticket(this, address, socket);
    set.add(ticket);
    this.#total += 1;
    this.#local += 1;
    (socket as Admitted)[ticketOf] = ticket;
    socket.on('close', socketClosed);
    return ticket;
  }

  /** Counts the connection as `address`'s from now on (a PROXY header named the client); false when that client is at its limit. */
  rekey(ticket: Ticket, address: string): boolean {
    if (address === ticket.address) return true;
    const own = this.#byClient.get(address);
    if (this.#full(own)) return false;
    const set = this.#byClient.get(ticket.address);
    if (!set?.delete(ticket)) return false;
    if (set.size === 0) this.#byClient.delete(ticket.address);
    ticket.address = address;
    if (own) own.add(ticket);
    else this.#byClient.set(address, new Set([ticket]));
    return true;
  }

  #full(own: Set<Ticket> | undefined): boolean {
    const perClient = this.limits.maxConnectionsPerClient;
    return perClient > 0 && own !== undefined && own.size >= perClient;
  }

  /** The connection now lives in a worker: `close` asks it to close there. */
  handedOff(ticket: Ticket, close: () => void): void {
    if (ticket.socket === undefined) return;
    ticket.socket = undefined;
    ticket.closeRemote = close;
    this.#local -= 1;
  }

  /** The connection closed (here, or its worker says so). */
  release(ticket: Ticket): void {
    const set = this.#byClient.get(ticket.address);
    if (!set?.delete(ticket)) return;
    this.#total -= 1;
    if (ticket.socket !== undefined) this.#local -= 1;
    if (set.size === 0) this.#byClient.delete(ticket.address);
  }

  /** Closes every connection whose socket is in this process (shutdown). */
  closeLocal(): void {
    for (const set of [...this.#byClient.values()]) for (const ticket of [...set]) ticket.socket?.destroy();
  }

  /** Closes the oldest connection of the biggest client, if it holds more than a client with `own` would after admission. */
  #makeRoom(own: number): boolean {
    let biggest: Set<Ticket> | undefined;
    for (const set of this.#byClient.values()) if (!biggest || set.size > biggest.size) biggest = set;
    if (!biggest || biggest.size <= own + 1) return false;
    const oldest = biggest.values().next().value as Ticket;
    this.release(oldest);
    oldest.close();
    return true;
  }
}
