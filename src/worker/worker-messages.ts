// Every message between the primary and a worker: one typed union per direction,
// imported by both sides.
import type { TenantCredentials } from '../db/tenant-credentials.ts';
import type { ClientInfo } from '../http/client-address.ts';
import type { ClientLimits } from '../http/client-limits.ts';
import type { RequestCounts } from '../http/request-stats.ts';
import type { AppSite } from '../app/app-context.ts';
import type { TenantTls } from '../tls/tenant-tls.ts';

export type PrimaryMessage =
  /** Sent once after fork: what to serve and with which (tenant-only) credentials. */
  | {
    type: 'start';
    tenant: AppSite;
    /** Absolute path of the application module. */
    app: string;
    credentials: TenantCredentials;
    /** Folder of the tenant migrations the app expects applied; undefined: no check (the public site). */
    migrations: string | undefined;
    logLevel: string;
    /** The loopback port to listen on; 0: any free port. */
    port: number;
    /** The router's limits, for connections handed to the worker. */
    limits: ClientLimits;
    /** This tenant's certificates and ticket keys, when the router has a TLS listener. */
    tls?: TenantTls | undefined;
  }
  /**
   * Sent with a client socket: serve connection `id`. `head` (base64) is what the
   * router read of it already, to be put back before the worker's parser reads;
   * `tls`: from the TLS listener, `head` being its ClientHello; `client`: the
   * client's address a trusted front's PROXY header gave.
   */
  | { type: 'connection'; id: number; head: string; tls?: true; client?: ClientInfo }
  /** This tenant's certificates or ticket keys changed. */
  | { type: 'tls'; tls: TenantTls }
  /** Close handed-off connection `id` (the router needs the room). */
  | { type: 'close-connection'; id: number }
  /** The router's limits changed (reload). */
  | { type: 'limits'; limits: ClientLimits }
  /**
   * Shutdown, before the groups stop routing: close the handed-off connections
   * (each after its response in flight), within `timeout` ms. The worker goes on
   * serving the router's requests until `stop`.
   */
  | { type: 'drain'; timeout: number }
  /**
   * The tenant moves to another database server: every request on a handed-off
   * connection is from now on answered through the router (which holds it
   * until the tenant's new workers serve), its connection closed after. The
   * worker answers `handed-back` once no request it serves itself is in flight.
   */
  | { type: 'hand-back' }
  /** Stop accepting, finish in-flight requests within `timeout` ms, exit. */
  | { type: 'stop'; timeout: number };

export type WorkerMessage =
  /** The worker's listener is in place: the primary may send `start` (a message sent earlier would be lost). */
  | { type: 'booted' }
  /** Listening on 127.0.0.1:`port`, a socket the worker owns, and the database answers as the tenant role: route here. */
  | { type: 'ready'; port: number }
  /**
   * The database cannot be reached as the tenant role (server down, credentials
   * refused, migrations not applied): alive, not to be routed to. `ready` follows
   * when it can. `port` is null before the worker first listened.
   */
  | { type: 'unavailable'; port: number | null; reason: string }
  /**
   * Sent at most every 100 ms while there is news: handed-off connections that
   * closed, and counts of the requests served on them since the last report.
   */
  | { type: 'report'; closed: number[]; requests: RequestCounts | null }
  /** Could not start (module failed to load, database unreachable...). */
  | { type: 'failed'; error: string }
  /** After `hand-back`: no request this worker serves itself is in flight any more. */
  | { type: 'handed-back' };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
