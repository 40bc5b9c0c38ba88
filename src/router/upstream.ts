// What the router needs of a tenant's workers (a WorkerGroup, or a site that
// could not be provisioned): the seam between routing and supervision.
import type { Socket } from 'node:net';
import type { ClientInfo } from '../http/client-address.ts';

export interface Upstream {
  readonly site: {
    readonly schema: string;
    /** TRACE reaches the tenant's application (else tenantd answers 405). */
    readonly allowTrace: boolean;
  };
  /**
   * A ready worker's port, counted as busy until done(port) or handOff(); waits
   * up to `timeout` ms for one that is starting; undefined when none is ready.
   * Synchronous when a worker is ready (the common case: no promise, no tick).
   */
  next(timeout: number): Promise<number | undefined> | number | undefined;
  /** The request (or WebSocket) given `port` by next() is over. */
  done(port: number): void;
  /**
   * Gives the client connection `id` (its socket and the bytes already read) to
   * the worker on `port`, which next() gave; ends that count of next(). False,
   * with the socket untouched, when that worker is gone or has too many
   * connections waiting for it. `tls`: from the TLS listener (bytes: the
   * ClientHello); `client`: what a trusted front's PROXY header said of the client.
   */
  handOff(port: number, id: number, socket: Socket, bytes: Buffer, tls?: boolean, client?: ClientInfo): boolean;
  /** Asks the worker holding handed-off connection `id` to close it. */
  closeConnection(id: number): void;
}
