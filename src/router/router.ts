// The public listener: maps Host to a tenant's workers. A connection whose first
// request is plain gets handed, socket and all, to one of its tenant's workers
// (worker/handed-off.ts), which serves every later request on it with no second
// hop; a one-request connection is forwarded over pooled connections
// (one-shot.ts). This file is that decision, the hot path. Anything else takes
// the proxy path (proxy-path.ts); requests a worker sends back come in through
// the reroute listener (reroute-listener.ts).
import net, { type Socket } from 'node:net';
import type { AccessEntry } from '../http/access-entry.ts';
import type { RerouteTarget } from '../http/client-limits.ts';
import { sweepInterval, tenantRefusal } from '../http/client-rules.ts';
import { answerAndClose, closingResponse } from '../http/closing-response.ts';
import { normalizeHost, type HostTable } from '../http/host-table.ts';
import { ClientConnections, type Ticket } from './client-connections.ts';
import type { FirstHead, SettledScan } from './first-head.ts';
import { FirstHeadReader } from './first-head-reader.ts';
import { OneShot } from './one-shot.ts';
import { ProxyPath } from './proxy-path.ts';
import { RerouteListener } from './reroute-listener.ts';
import type { RouterLimits, RouterOptions } from './router-options.ts';
import type { Upstream } from './upstream.ts';

export type { RouterLimits, RouterOptions } from './router-options.ts';
export type { Upstream } from './upstream.ts';

/**
 * Unties a socket from its net.Server before it is sent to a worker. Otherwise
 * Node tracks every sent socket per worker for the server's life (a leak as
 * workers come and go) and makes server.close() wait for the workers' sockets.
 */
function detachFromServer(socket: Socket): void {
  const own = socket as unknown as { server: { _connections: number } | null; _server: unknown };
  if (own.server) own.server._connections -= 1;
  own.server = null;
  own._server = null;
}

/** Drops what it is given (errors the close that follows reports). */
function ignore(): void {}

export class Router {
  /** The public listener. */
  readonly listener: net.Server;
  /** Node's parser and the passes, for connections the router keeps. */
  readonly #proxy: ProxyPath;
  /** Loopback listener for requests a worker was given but are not its tenant's. */
  readonly #reroute: RerouteListener;
  #routes: HostTable<Upstream>;
  #options: RouterOptions;
  readonly #clients: ClientConnections;
  /** First heads being read, to choose a connection's path. */
  readonly #heads: FirstHeadReader<Ticket>;
  /** One-request connections, over pooled connections to the workers. */
  readonly #oneShot: OneShot;
  /** Handed-off connections by id, until their worker reports them closed. */
  readonly #remote = new Map<number, Ticket>();
  #lastId = 0;
  /** Until open(), requests get 503: the router listens before the sites are provisioned. */
  #open = false;

  constructor(routes: HostTable<Upstream>, options: RouterOptions) {
    this.#routes = routes;
    this.#options = options;
    const serverOptions = {
      maxHeaderSize: options.maxHeaderSize,
      // How often Node checks headersTimeout/requestTimeout (default 30 s, too
      // coarse to cut off a client that trickles its headers).
      connectionsCheckingInterval: sweepInterval(options.headersTimeout),
    };
    this.#proxy = new ProxyPath({
      routes: () => this.#routes,
      open: () => this.#open,
      options: () => this.#options,
      report: (entry) => this.#report(entry),
      refused: (status) => this.#refused(status),
    }, serverOptions);
    this.#reroute = new RerouteListener(this.#proxy, serverOptions);
    this.#clients = new ClientConnections(options);
    this.#heads = new FirstHeadReader<Ticket>({
      maxHeaderSize: options.maxHeaderSize,
      maxHeaderLineSize: options.maxHeaderLineSize,
      headersTimeout: options.headersTimeout,
      onHead: (socket, ticket, bytes, scan) => this.#firstHead(socket, ticket, bytes, scan),
      onTimeout: (socket) => {
        answerAndClose(socket, 408);
        this.#refused(408);
      },
    });
    this.#oneShot = new OneShot({ upstreamTimeout: options.upstreamTimeout, finished: (entry) => this.#report(entry) });
    this.listener = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#applyLimits();
  }

  #applyLimits(): void {
    const o = this.#options;
    this.#proxy.applyLimits();
    this.#heads.headersTimeout = o.headersTimeout;
    this.#heads.maxHeaderLineSize = o.maxHeaderLineSize;
    // Counted per client by ClientConnections, which makes room rather than refuse.
    this.#clients.limits = { maxConnections: o.maxConnections, maxConnectionsPerClient: o.maxConnectionsPerClient };
  }

  /** Binds the public address, and the reroute listener on a free loopback port. */
  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve();
      });
    });
    await this.#reroute.listen();
  }

  /** Where workers send requests that are not their tenant's. */
  get rerouteTarget(): RerouteTarget {
    return this.#reroute.target;
  }

  /** Starts routing by the host table (until then every request gets 503). */
  open(): void {
    this.#open = true;
  }

  /** Swaps the host table at once (reload): new requests see only the new routes. */
  setRoutes(routes: HostTable<Upstream>): void {
    this.#routes = routes;
  }

  setLimits(limits: RouterLimits): void {
    this.#options = { ...this.#options, ...limits };
    this.#oneShot.upstreamTimeout = limits.upstreamTimeout;
    this.#applyLimits();
  }

  /** Handed-off connections their workers closed (or lost by exiting). */
  connectionsClosed(ids: readonly number[]): void {
    for (const id of ids) {
      const ticket = this.#remote.get(id);
      if (!ticket) continue;
      this.#remote.delete(id);
      this.#clients.release(ticket);
    }
  }

  /**
   * Stops accepting, lets the requests in flight here finish, then closes the
   * connections it holds; cuts what remains after `timeout` ms. Handed-off
   * connections are their workers' to close, and the reroute listener stays
   * until they have (closeReroute): a draining worker may still send it a
   * request for another tenant.
   */
  async close(timeout: number): Promise<void> {
    this.listener.close();
    const deadline = Date.now() + timeout;
    while (this.#clients.local > 0 && Date.now() < deadline) {
      this.#proxy.server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.#proxy.server.closeAllConnections();
    this.#clients.closeLocal();
    this.#heads.close();
    this.#oneShot.close();
  }

  /** Closes the reroute listener, once no worker serves handed-off connections. */
  closeReroute(): void {
    this.#reroute.close();
  }

  #refused(status: number): void {
    this.#options.onResponse?.({ tenant: null, method: '', path: '', status, bytes: 0, durationMs: 0, requestId: '' });
  }

  /** A new client connection: admitted or refused, then its first head read, or straight to the proxy path. */
  #accept(socket: Socket): void {
    const ticket = this.#clients.admit(socket);
    if (typeof ticket === 'number') {
      // A refused socket never reaches a parser. Written now (a fresh socket's
      // first write goes straight out), then cut.
      socket.on('error', ignore);
      socket.write(closingResponse(ticket));
      socket.destroy();
      return this.#refused(ticket);
    }
    if (!this.#options.handoff || !this.#open) return this.#proxy.take(socket);
    // Errors after this point are the proxy path's or the worker's to handle.
    socket.on('error', ignore);
    this.#heads.read(socket, ticket);
  }

  /** The first head is read (or the connection must take the proxy path): choose the path. */
  #firstHead(socket: Socket, ticket: Ticket, bytes: Buffer, scan: SettledScan): void {
    if (scan.kind === 'proxy') return this.#proxy.take(socket, bytes);
    this.#handOff(socket, ticket, bytes, scan.head).catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'hand-off failed');
      socket.destroy();
    });
  }

  /** Gives the connection to a worker of its tenant; whatever the router must answer takes the proxy path. */
  async #handOff(socket: Socket, ticket: Ticket, bytes: Buffer, head: FirstHead): Promise<void> {
    const name = normalizeHost(head.host);
    const upstream = name === undefined ? undefined : this.#routes.lookup(name);
    // Unknown host (404), a tenant's rule refuses it (405, 413): the proxy path answers.
    if (!upstream || tenantRefusal(head.method, head.contentLength, { bodyLimit: this.#options.bodyLimit, allowTrace: upstream.site.allowTrace })) {
      return this.#proxy.take(socket, bytes);
    }
    const waited = upstream.next(this.#options.queueTimeout);
    const port = typeof waited === 'object' ? await waited : waited;
    if (port === undefined) {
      // None came within queueTimeout: the proxy path answers 503 without waiting again.
      return this.#proxy.take(socket, bytes, true);
    }
    if (socket.destroyed) return upstream.done(port);
    if (head.close && !head.upgrade && !head.chunked && head.contentLength === 0) {
      // One request and no body: written to the worker over a pooled connection
      // (one-shot.ts). Measured with `npm run bench`, that costs less than
      // passing the socket, which waits for the worker to acknowledge the one
      // before it. A one-request connection with a body is handed off.
      return this.#oneShot.forward(socket, head, bytes.length > head.length, upstream.site.schema, port, () => upstream.done(port));
    }
    const id = ++this.#lastId;
    detachFromServer(socket);
    if (!upstream.handOff(port, id, socket, bytes)) {
      upstream.done(port);
      return this.#proxy.take(socket, bytes);
    }
    this.#clients.handedOff(ticket, () => upstream.closeConnection(id));
    this.#remote.set(id, ticket);
  }

  /** One finished request: its access line and its count. */
  #report(entry: AccessEntry): void {
    if (this.#options.accessLog) this.#options.log.info({ access: entry }, 'request');
    this.#options.onResponse?.(entry);
  }
}
