// The public listener: maps Host to a tenant's workers. A connection whose first
// request is plain gets handed, socket and all, to one of its tenant's workers
// (worker/handed-off.ts), which serves every later request on it with no second
// hop. Anything else takes the proxy path: Node's parser, then an ordered list of
// small passes, the first that answers ends it, and a forwarder to the worker.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { pathOf, type AccessEntry } from '../http/access-entry.ts';
import { rerouteHeader, type RerouteTarget } from '../http/client-limits.ts';
import { answerAndClose, closingResponse } from '../http/closing-response.ts';
import { CountedResponse } from '../http/counted-response.ts';
import { addForwardedHeaders, assignRequestId, clientErrorStatus } from '../http/forwarded.ts';
import { hostLines, normalizeHost, type HostTable } from '../http/host-table.ts';
import { ClientConnections, type Ticket } from './client-connections.ts';
import type { FirstHead, SettledScan } from './first-head.ts';
import { FirstHeadReader } from './first-head-reader.ts';
import { OneShot } from './one-shot.ts';
import type { Forwarder } from './forwarder.ts';

export type { AccessEntry } from '../http/access-entry.ts';

/** What the router needs of a tenant's workers. */
export interface Upstream {
  readonly site: { readonly schema: string };
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
   * with the socket untouched, when that worker is gone.
   */
  handOff(port: number, id: number, socket: Socket, bytes: Buffer): boolean;
  /** Asks the worker holding handed-off connection `id` to close it. */
  closeConnection(id: number): void;
}

/** What a reload may change. */
/** The router's config keys a reload may change (maxHeaderSize is fixed for the server's life), and whether it writes access lines. */
export type RouterLimits = Omit<Config['router'], 'maxHeaderSize'> & { accessLog: boolean };

export interface RouterOptions extends RouterLimits {
  /** Bytes of request head; fixed for the server's life. */
  maxHeaderSize: number;
  forwarder: Forwarder;
  log: Logger;
  /** Called once per request the router answers (metrics). */
  onResponse?: (entry: AccessEntry) => void;
}

interface Exchange {
  req: http.IncomingMessage;
  res: CountedResponse;
  requestId: string;
  started: bigint;
  tenant: string | null;
  /** Sent by a worker through the reroute listener: its X-Forwarded-* are tenantd's own. */
  rerouted: boolean;
  upstream?: Upstream;
  /** The worker's port, once next() gave one: done(port) when the exchange ends. */
  port?: number;
}

type Pass = (x: Exchange) => boolean | Promise<boolean>;

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

const absoluteForm = /^http:\/\/([^/?#]*)([^#]*)$/i;

export class Router {
  /** The public listener. */
  readonly listener: net.Server;
  /** Node's HTTP server for the proxy path; fed connections by the listener, never listening itself. */
  readonly server: http.Server;
  /** Loopback listener for requests a worker was given but are not its tenant's. */
  readonly #reroute: http.Server;
  readonly #token = randomBytes(18).toString('base64url');
  #routes: HostTable<Upstream>;
  #options: RouterOptions;
  readonly #passes: Pass[];
  readonly #clients: ClientConnections;
  /** First heads being read, to choose a connection's path. */
  readonly #heads: FirstHeadReader<Ticket>;
  /** One-request connections, over pooled connections to the workers. */
  readonly #oneShot: OneShot;
  /** Handed-off connections by id, until their worker reports them closed. */
  readonly #remote = new Map<number, Ticket>();
  #lastId = 0;
  /** Sockets whose hand-off already waited queueTimeout for a worker: the proxy path does not wait again. */
  readonly #waited = new WeakSet<Socket>();
  /** Until open(), requests get 503: the router listens before the sites are provisioned. */
  #open = false;

  constructor(routes: HostTable<Upstream>, options: RouterOptions) {
    this.#routes = routes;
    this.#options = options;
    this.#passes = [
      // 1. Find the tenant from Host alone; X-Forwarded-Host never steers routing.
      (x) => this.#resolve(x),
      // 2. Refuse a declared body over the limit before it reaches a worker.
      (x) => this.#limitBody(x),
      // 3. Tell the worker who asked: X-Forwarded-For appended, -Proto and -Host set.
      (x) => this.#forwardedHeaders(x),
      // 4. Wait (bounded) for a ready worker, then forward.
      (x) => this.#forward(x),
    ];
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: options.maxHeaderSize,
      ServerResponse: CountedResponse as typeof http.ServerResponse,
      // How often Node checks headersTimeout/requestTimeout (default 30 s, too
      // coarse to cut off a client that trickles its headers).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, options.headersTimeout / 2)),
    };
    this.server = http.createServer(serverOptions, (req, res) => void this.#handle(req, res as CountedResponse, false));
    // Node starts tracking a server's connections (headersTimeout, requestTimeout,
    // closeIdleConnections) on 'listening'; this one is fed by the listener.
    this.server.emit('listening');
    this.#reroute = http.createServer(serverOptions, (req, res) => void this.#handle(req, res as CountedResponse, true));
    this.#reroute.keepAliveTimeout = 10 * 60_000;
    this.#clients = new ClientConnections(options);
    this.#heads = new FirstHeadReader<Ticket>({
      maxHeaderSize: options.maxHeaderSize,
      headersTimeout: options.headersTimeout,
      onHead: (socket, ticket, bytes, scan) => this.#firstHead(socket, ticket, bytes, scan),
      onTimeout: (socket) => {
        answerAndClose(socket, 408);
        this.#refused(408);
      },
    });
    this.#oneShot = new OneShot({ upstreamTimeout: options.upstreamTimeout, finished: (entry) => this.#report(entry) });
    this.listener = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#applyServerLimits();
    this.server.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket, head));
    // Requests Node's parser refuses never reach a pass, nor a worker: a head over
    // maxHeaderSize, a timeout, or ambiguous framing (Content-Length together with
    // Transfer-Encoding, the request-smuggling shape).
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = clientErrorStatus(error);
      answerAndClose(socket, status);
      this.#refused(status);
    });
  }

  #applyServerLimits(): void {
    const o = this.#options;
    this.server.headersTimeout = o.headersTimeout;
    this.server.requestTimeout = o.requestTimeout;
    this.server.keepAliveTimeout = o.keepAliveTimeout;
    this.#heads.headersTimeout = o.headersTimeout;
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
    await new Promise<void>((resolve) => this.#reroute.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve));
  }

  /** Where workers send requests that are not their tenant's. */
  get rerouteTarget(): RerouteTarget {
    return { port: (this.#reroute.address() as net.AddressInfo).port, token: this.#token };
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
    this.#applyServerLimits();
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
      this.server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.server.closeAllConnections();
    this.#clients.closeLocal();
    this.#heads.close();
    this.#oneShot.close();
  }

  /** Closes the reroute listener, once no worker serves handed-off connections. */
  closeReroute(): void {
    this.#reroute.close();
    this.#reroute.closeAllConnections();
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
      socket.on('error', () => {});
      socket.write(closingResponse(ticket, { extra: 'Retry-After: 5\r\n' }));
      socket.destroy();
      return this.#refused(ticket);
    }
    if (!this.#options.handoff || !this.#open) return this.#proxy(socket);
    // Errors after this point are the proxy path's or the worker's to handle.
    socket.on('error', ignore);
    this.#heads.read(socket, ticket);
  }

  /** The proxy path, for the whole connection; `bytes` were read already. */
  #proxy(socket: Socket, bytes?: Buffer): void {
    if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes);
    this.server.emit('connection', socket);
    socket.resume();
  }

  /** The first head is read (or the connection must take the proxy path): choose the path. */
  #firstHead(socket: Socket, ticket: Ticket, bytes: Buffer, scan: SettledScan): void {
    if (scan.kind === 'proxy') return this.#proxy(socket, bytes);
    this.#handOff(socket, ticket, bytes, scan.head).catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'hand-off failed');
      socket.destroy();
    });
  }

  /** Gives the connection to a worker of its tenant; whatever the router must answer takes the proxy path. */
  async #handOff(socket: Socket, ticket: Ticket, bytes: Buffer, head: FirstHead): Promise<void> {
    const name = normalizeHost(head.host);
    const upstream = name === undefined ? undefined : this.#routes.lookup(name);
    // Unknown host (404), body over the limit (413): the proxy path answers.
    if (!upstream || head.contentLength > this.#options.bodyLimit) return this.#proxy(socket, bytes);
    const waited = upstream.next(this.#options.queueTimeout);
    const port = typeof waited === 'object' ? await waited : waited;
    if (port === undefined) {
      // None came within queueTimeout: the proxy path answers 503 without waiting again.
      this.#waited.add(socket);
      return this.#proxy(socket, bytes);
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
      return this.#proxy(socket, bytes);
    }
    this.#clients.handedOff(ticket, () => upstream.closeConnection(id));
    this.#remote.set(id, ticket);
  }

  async #handle(req: http.IncomingMessage, res: CountedResponse, rerouted: boolean): Promise<void> {
    const x: Exchange = { req, res, requestId: '', started: process.hrtime.bigint(), tenant: null, rerouted };
    if (rerouted && !this.#fromWorker(req)) {
      res.once('close', () => this.#finished(x));
      return void this.#reply(x, 403, 'forbidden');
    }
    const requestId = assignRequestId(req);
    res.setHeader('x-request-id', requestId);
    x.requestId = requestId;
    res.once('close', () => this.#finished(x));
    try {
      for (const pass of this.#passes) if (await pass(x)) return;
    } catch (error) {
      this.#options.log.error({ err: error, requestId }, 'router failed');
      this.#reply(x, 500, 'internal error');
    }
  }

  /** The reroute token, checked in constant time and removed. */
  #fromWorker(req: http.IncomingMessage): boolean {
    const token = req.headers[rerouteHeader];
    delete req.headers[rerouteHeader];
    if (typeof token !== 'string' || token.length !== this.#token.length) return false;
    return timingSafeEqual(Buffer.from(token), Buffer.from(this.#token));
  }

  #reply(x: Exchange, status: number, message: string, headers: http.OutgoingHttpHeaders = {}): true {
    const { res } = x;
    if (res.headersSent) {
      res.destroy();
      return true;
    }
    const body = `${status} ${message}\n`;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
    return true;
  }

  /**
   * The one host-resolution path, failing closed (RFC 9112 §3.2): one Host line,
   * a valid host and port; an absolute-form target's authority wins over Host
   * (and becomes the Host the worker sees). An upstream, or the refusal.
   */
  #route(req: http.IncomingMessage): Upstream | [status: number, message: string] {
    if (req.httpVersionMajor !== 1) return [505, 'HTTP version not supported'];
    const lines = hostLines(req.rawHeaders);
    if (lines > 1) return [400, 'more than one Host header'];
    if (lines === 0) return [400, 'missing Host header'];
    let authority = req.headers.host!;
    const url = req.url ?? '';
    if (!url.startsWith('/') && url !== '*') {
      const absolute = absoluteForm.exec(url);
      if (!absolute) return [400, 'malformed request target'];
      authority = absolute[1]!;
      req.url = absolute[2] || '/';
      req.headers.host = authority;
    }
    const name = normalizeHost(authority);
    if (name === undefined) return [400, 'malformed Host header'];
    if (!this.#open) return [503, 'tenantd is starting'];
    return this.#routes.lookup(name) ?? [404, 'unknown host'];
  }

  #resolve(x: Exchange): boolean {
    const upstream = this.#route(x.req);
    if (Array.isArray(upstream)) {
      const [status, message] = upstream;
      // 503: starting, come back in a second. 400/505: the Host or version cannot
      // be trusted, so nothing more is read from that connection.
      const headers = status === 503 ? { 'retry-after': '1' } : status === 404 ? {} : { connection: 'close' };
      return this.#reply(x, status, message, headers);
    }
    x.upstream = upstream;
    x.tenant = upstream.site.schema;
    return false;
  }

  #limitBody(x: Exchange): boolean {
    const length = Number(x.req.headers['content-length'] ?? 0);
    if (length > this.#options.bodyLimit) {
      x.req.resume();
      return this.#reply(x, 413, 'request body too large', { connection: 'close' });
    }
    return false;
  }

  #forwardedHeaders(x: Exchange): boolean {
    // A rerouted request carries the X-Forwarded-* the worker set from the client's connection.
    if (!x.rerouted) addForwardedHeaders(x.req);
    return false;
  }

  async #forward(x: Exchange): Promise<boolean> {
    const socket = x.req.socket;
    const timeout = this.#waited.has(socket) ? 0 : this.#options.queueTimeout;
    this.#waited.delete(socket);
    const waited = x.upstream!.next(timeout);
    const port = typeof waited === 'object' ? await waited : waited;
    if (port !== undefined) x.port = port;
    if (x.res.destroyed) return true;
    if (port === undefined) {
      return this.#reply(x, 503, 'tenant not available', { 'retry-after': String(Math.max(1, Math.ceil(this.#options.queueTimeout / 1000))) });
    }
    const limits = { timeout: this.#options.upstreamTimeout, bodyLimit: this.#options.bodyLimit };
    this.#options.forwarder.web(x.req, x.res, port, limits, (kind, error) => {
      if (kind === 'too-large') {
        x.req.unpipe();
        x.req.resume();
        this.#reply(x, 413, 'request body too large', { connection: 'close' });
        return;
      }
      this.#options.log.warn({ tenant: x.tenant, requestId: x.requestId, err: error, kind }, 'forwarding failed');
      if (kind === 'timeout') this.#reply(x, 504, 'worker timed out');
      else this.#reply(x, 502, 'worker unavailable');
    });
    return true;
  }

  async #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node's server has taken its own 'error' listener off an upgraded socket:
    // a reset while this waits for a worker would otherwise end the process.
    socket.on('error', ignore);
    const upstream = this.#route(req);
    if (Array.isArray(upstream)) return answerAndClose(socket, upstream[0]);
    const port = await upstream.next(this.#options.queueTimeout);
    if (port === undefined) return answerAndClose(socket, 503);
    addForwardedHeaders(req);
    socket.once('close', () => upstream.done(port));
    this.#options.forwarder.ws(req, socket, head, port);
  }

  #finished(x: Exchange): void {
    const { req, res } = x;
    const entry: AccessEntry = {
      tenant: x.tenant,
      method: req.method ?? '',
      path: pathOf(req.url),
      status: res.writableFinished ? res.statusCode : 499,
      bytes: res.bodyBytes,
      durationMs: Number(process.hrtime.bigint() - x.started) / 1e6,
      requestId: x.requestId,
    };
    if (x.port !== undefined) x.upstream!.done(x.port);
    this.#report(entry);
  }

  /** One finished request: its access line and its count. */
  #report(entry: AccessEntry): void {
    if (this.#options.accessLog) this.#options.log.info({ access: entry }, 'request');
    this.#options.onResponse?.(entry);
  }
}
