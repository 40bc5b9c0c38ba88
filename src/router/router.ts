// The public listeners: map Host (or, for TLS, the ClientHello's server name)
// to a tenant's workers. A connection whose first request is plain gets handed,
// socket and all, to one of its tenant's workers (worker/handed-off.ts), which
// serves every later request on it with no second hop; a one-request
// connection is forwarded over pooled connections (one-shot.ts). A TLS
// connection is handed off with its ClientHello, undecrypted: the worker
// terminates TLS with its tenant's certificate. This file is that decision, the
// hot path. Anything else takes the proxy path (proxy-path.ts); requests a
// worker sends back come in through the reroute listener (reroute-listener.ts).
import net, { type Socket } from 'node:net';
import type { AccessEntry } from '../http/access-entry.ts';
import type { RerouteTarget } from '../http/client-limits.ts';
import { sweepInterval, tenantRefusal } from '../http/client-rules.ts';
import { answerAndClose, closingResponse } from '../http/closing-response.ts';
import { clientInfoOf, markClient, trustedFront } from '../http/client-address.ts';
import { normalizeHost, type HostTable } from '../http/host-table.ts';
import { scanProxyHeader } from './proxy-protocol.ts';
import { ClientConnections, type Ticket } from './client-connections.ts';
import { scanClientHello, unrecognizedNameAlert, handshakeFailureAlert, type HelloScan } from '../tls/client-hello.ts';
import { challengeToken } from '../tls/tenant-tls.ts';
import { AlpnChallengeResponder, isAlpnChallenge } from '../tls/alpn-challenge.ts';
import { scanFirstHead, type FirstHead, type SettledScan } from './first-head.ts';
import { FirstBytesReader } from './first-bytes-reader.ts';
import { OneShot } from './one-shot.ts';
import { ProxyPath } from './proxy-path.ts';
import { RerouteListener } from './reroute-listener.ts';
import type { RouterLimits, RouterOptions, RouterTls } from './router-options.ts';
import type { Upstream } from './upstream.ts';

export type { RouterLimits, RouterOptions, RouterTls } from './router-options.ts';

/** A PROXY header a trusted front sent before the connection's first byte. */
interface ProxyHeader {
  length: number;
  client: { address: string; port: number } | undefined;
}

/** What the first bytes settled on: after any PROXY header, a head (plain listener) or a ClientHello (TLS listener). */
type Settled<S> = { proxy: ProxyHeader | undefined; scan: S } | { badProxy: string };
type SettledHello = Exclude<HelloScan, { kind: 'partial' }>;

/**
 * Scans a connection's first bytes with `scan`, after the PROXY header a
 * trusted front may send first (read once, before the first request only).
 */
function afterProxyHeader<S>(bytes: Buffer, ticket: Ticket, scan: (bytes: Buffer) => S | undefined): Settled<S> | undefined {
  let proxy: ProxyHeader | undefined;
  if (ticket.trusted && !ticket.proxyRead) {
    const header = scanProxyHeader(bytes);
    if (header.kind === 'partial') return undefined;
    if (header.kind === 'invalid') return { badProxy: header.reason };
    if (header.kind === 'header') proxy = header;
  }
  const settled = scan(proxy ? bytes.subarray(proxy.length) : bytes);
  return settled === undefined ? undefined : { proxy, scan: settled };
}
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
  readonly #heads: FirstBytesReader<Ticket, Settled<SettledScan>>;
  /** The TLS listener (the service binds it when tls.listen is set). */
  readonly tlsListener: net.Server;
  /** ClientHellos being read, to choose a TLS connection's tenant. */
  readonly #hellos: FirstBytesReader<Ticket, Settled<SettledHello>>;
  #tls: RouterTls | undefined;
  /** TLS-ALPN-01 challenges (tls.acme), made at the first. */
  #alpn: AlpnChallengeResponder | undefined;
  /** router.trustedProxies; undefined when none. */
  #trusted: net.BlockList | undefined;
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
    this.#heads = new FirstBytesReader<Ticket, Settled<SettledScan>>({
      timeout: options.headersTimeout,
      scan: (bytes, ticket) => afterProxyHeader(bytes, ticket, (rest) => {
        const scan = scanFirstHead(rest, this.#options);
        return scan.kind === 'incomplete' ? undefined : scan;
      }),
      onSettled: (socket, ticket, bytes, scan) => this.#firstHead(socket, ticket, bytes, scan),
      onTimeout: (socket, ticket, bytes) => {
        // A front's kept-alive connection that sent nothing more is closed as Node closes an idle one: without an answer.
        if (ticket.front && bytes === undefined) return void socket.destroy();
        answerAndClose(socket, 408);
        this.#refused(408);
      },
    });
    this.#hellos = new FirstBytesReader<Ticket, Settled<SettledHello>>({
      timeout: options.tls?.handshakeTimeout ?? options.headersTimeout,
      scan: (bytes, ticket) => afterProxyHeader(bytes, ticket, (rest) => {
        const scan = scanClientHello(rest);
        return scan.kind === 'partial' ? undefined : scan;
      }),
      onSettled: (socket, ticket, bytes, scan) => this.#clientHello(socket, ticket, bytes, scan),
      onTimeout: (socket) => socket.destroy(),
    });
    this.#tls = options.tls;
    this.tlsListener = net.createServer({ noDelay: true }, (socket) => this.#acceptTls(socket));
    this.#oneShot = new OneShot({ upstreamTimeout: options.upstreamTimeout, finished: (entry) => this.#report(entry) });
    this.listener = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#applyLimits();
  }

  #applyLimits(): void {
    const o = this.#options;
    this.#proxy.applyLimits();
    this.#heads.timeout = o.headersTimeout;
    // Counted per client by ClientConnections, which makes room rather than refuse.
    this.#clients.limits = { maxConnections: o.maxConnections, maxConnectionsPerClient: o.maxConnectionsPerClient };
    if (o.trustedProxies.length === 0) this.#trusted = undefined;
    else {
      const list = new net.BlockList();
      for (const p of o.trustedProxies) list.addSubnet(p.address, p.bits, p.family);
      this.#trusted = list;
    }
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

  /** The TLS listener's choices changed (reload, a new certificate). */
  setTls(tls: RouterTls): void {
    this.#tls = tls;
    // The proxy path reads it from the options.
    this.#options = { ...this.#options, tls };
    this.#hellos.timeout = tls.handshakeTimeout;
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
    if (this.tlsListener.listening) this.tlsListener.close();
    const deadline = Date.now() + timeout;
    while (this.#clients.local > 0 && Date.now() < deadline) {
      this.#proxy.server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.#proxy.server.closeAllConnections();
    this.#clients.closeLocal();
    this.#heads.close();
    this.#hellos.close();
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
    const trusted = this.#isTrusted(socket);
    const ticket = this.#clients.admit(socket, !trusted);
    if (typeof ticket === 'number') {
      // A refused socket never reaches a parser. Written now (a fresh socket's
      // first write goes straight out), then cut.
      socket.on('error', ignore);
      socket.write(closingResponse(ticket));
      socket.destroy();
      return this.#refused(ticket);
    }
    ticket.trusted = trusted;
    // A front's PROXY header is read first, whatever the path.
    if ((!this.#options.handoff && !trusted) || !this.#open) return this.#proxy.take(socket);
    // Errors after this point are the proxy path's or the worker's to handle.
    socket.on('error', ignore);
    this.#heads.read(socket, ticket);
  }

  /** Whether the peer is one of router.trustedProxies. */
  #isTrusted(socket: Socket): boolean {
    const list = this.#trusted;
    if (!list || !socket.remoteAddress) return false;
    return list.check(socket.remoteAddress, socket.remoteFamily === 'IPv6' ? 'ipv6' : 'ipv4');
  }

  /**
   * Before the first request or ClientHello: a trusted front's PROXY header
   * names the client (counted as that client's from now on); a trusted front
   * that sent none is an HTTP front, served request by request (plain
   * listener). Returns the bytes after the header, or undefined when the
   * connection was refused.
   */
  #proxied(socket: Socket, ticket: Ticket, bytes: Buffer, settled: Settled<unknown>, tls: boolean): Buffer | undefined {
    if ('badProxy' in settled) {
      this.#options.log.debug({ reason: settled.badProxy }, 'a malformed PROXY header');
      if (tls) socket.destroy();
      else answerAndClose(socket, 400, { body: 'a malformed PROXY protocol header' });
      this.#refused(400);
      return undefined;
    }
    if (ticket.proxyRead) return bytes;
    ticket.proxyRead = true;
    const { proxy } = settled;
    if (proxy) {
      if (proxy.client) {
        if (!this.#clients.rekey(ticket, proxy.client.address)) {
          if (tls) socket.destroy();
          else answerAndClose(socket, 429);
          this.#refused(429);
          return undefined;
        }
        markClient(socket, { address: proxy.client.address });
      }
      return bytes.subarray(proxy.length);
    }
    if (ticket.trusted && !tls) {
      ticket.front = true;
      markClient(socket, { trusted: true });
    }
    return bytes;
  }

  /** A new connection to the TLS listener: admitted as a plain one is, then its ClientHello read. */
  #acceptTls(socket: Socket): void {
    socket.on('error', ignore);
    const trusted = this.#isTrusted(socket);
    const ticket = this.#clients.admit(socket, !trusted);
    // A refusal cannot be an HTTP answer before TLS: the connection is closed.
    if (typeof ticket === 'number') {
      socket.destroy();
      return this.#refused(ticket);
    }
    if (!this.#open || !this.#tls) return void socket.destroy();
    ticket.trusted = trusted;
    this.#hellos.read(socket, ticket);
  }

  /**
   * The ClientHello is read: its server name chooses the tenant, whose worker
   * gets the socket and these bytes. No name, or a name no tenant has: the
   * default tenant's, else an unrecognized_name alert; a tenant's host without
   * a certificate yet: a handshake_failure alert. Never a certificate for a
   * name the client did not ask for, but the default tenant's.
   */
  #clientHello(socket: Socket, ticket: Ticket, read: Buffer, settled: Settled<SettledHello>): void {
    const bytes = this.#proxied(socket, ticket, read, settled, true);
    if (bytes === undefined) return;
    const { scan } = settled as Exclude<Settled<SettledHello>, { badProxy: string }>;
    const tls = this.#tls!;
    if (scan.kind === 'plain-http') {
      answerAndClose(socket, 400, { body: 'this port speaks HTTPS: use an https:// address' });
      return this.#refused(400);
    }
    if (scan.kind === 'invalid') {
      this.#options.log.debug({ reason: scan.reason }, 'not a TLS ClientHello');
      return void socket.destroy();
    }
    // A CA validating a host by TLS-ALPN-01: answered here, whatever the name.
    if (tls.alpnChallenge && scan.serverName !== undefined && isAlpnChallenge(scan.alpn)) {
      this.#alpn ??= new AlpnChallengeResponder((host) => this.#tls?.alpnChallenge?.(host), tls.handshakeTimeout);
      return this.#alpn.answer(socket, bytes);
    }
    const named = scan.serverName === undefined ? undefined : this.#routes.lookup(scan.serverName);
    if (named && !tls.certified(scan.serverName!)) return void socket.end(handshakeFailureAlert);
    const upstream = named ?? (tls.defaultHost === undefined ? undefined : this.#routes.lookup(tls.defaultHost));
    if (!upstream) return void socket.end(unrecognizedNameAlert);
    this.#handOffTls(socket, ticket, bytes, upstream).catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'TLS hand-off failed');
      socket.destroy();
    });
  }

  async #handOffTls(socket: Socket, ticket: Ticket, bytes: Buffer, upstream: Upstream): Promise<void> {
    const waited = upstream.next(this.#options.queueTimeout);
    const port = typeof waited === 'object' ? await waited : waited;
    // No worker within queueTimeout: nothing to answer before TLS; the client may retry.
    if (port === undefined) return void socket.destroy();
    if (socket.destroyed) return upstream.done(port);
    if (!this.#give(socket, ticket, bytes, upstream, port, true)) socket.destroy();
  }

  /**
   * Passes the connection to the worker on `port` (next() gave it), counted as
   * handed off until the worker reports it closed; false, with `port` done and
   * the socket still here, when that worker cannot take it.
   */
  #give(socket: Socket, ticket: Ticket, bytes: Buffer, upstream: Upstream, port: number, tls: boolean): boolean {
    const id = ++this.#lastId;
    detachFromServer(socket);
    if (!upstream.handOff(port, id, socket, bytes, tls, clientInfoOf(socket))) {
      upstream.done(port);
      return false;
    }
    this.#clients.handedOff(ticket, () => upstream.closeConnection(id));
    this.#remote.set(id, ticket);
    return true;
  }

  /** The first head is read (or the connection must take the proxy path): choose the path. */
  #firstHead(socket: Socket, ticket: Ticket, read: Buffer, settled: Settled<SettledScan>): void {
    const bytes = this.#proxied(socket, ticket, read, settled, false);
    if (bytes === undefined) return;
    const { scan } = settled as Exclude<Settled<SettledScan>, { badProxy: string }>;
    if (scan.kind === 'proxy' || !this.#options.handoff) return this.#proxy.take(socket, bytes);
    // An ACME HTTP-01 challenge: the proxy path answers it, whatever the Host.
    if (this.#tls?.challenge && challengeToken(scan.head.target) !== undefined) return this.#proxy.take(socket, bytes);
    if (this.#tls && this.#redirect(socket, scan.head)) return;
    const routed = ticket.front ? this.#frontRequest(socket, ticket, bytes, scan.head) : this.#handOff(socket, ticket, bytes, scan.head);
    routed.catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'hand-off failed');
      socket.destroy();
    });
  }

  /**
   * Plain HTTP for a host that has a certificate: 308 to https:// (tls.redirect),
   * unless a trusted front says the request came over HTTPS. True when answered.
   */
  #redirect(socket: Socket, head: FirstHead): boolean {
    const name = normalizeHost(head.host);
    const upstream = name === undefined ? undefined : this.#routes.lookup(name);
    if (!upstream) return false;
    if (trustedFront(socket)) {
      const at = head.names.indexOf('x-forwarded-proto');
      if (at >= 0 && head.values[at] === 'https') return false;
    }
    const location = this.#tls!.redirect(upstream.site.schema, name!, head.target);
    if (location === undefined) return false;
    answerAndClose(socket, 308, { extra: `Location: ${location}\r\n`, body: 'this site is served over HTTPS' });
    this.#refused(308);
    return true;
  }

  /**
   * A request on a trusted front's connection: written to its tenant's worker
   * over a pooled connection, its response copied back, then the next request
   * read, whichever tenant it names (one-shot.ts). What the router must answer
   * or cannot frame this way (an unknown host, a refusal, a chunked body, an
   * upgrade) takes the proxy path, with the rest of the connection.
   */
  async #frontRequest(socket: Socket, ticket: Ticket, bytes: Buffer, head: FirstHead): Promise<void> {
    const name = normalizeHost(head.host);
    const upstream = name === undefined ? undefined : this.#routes.lookup(name);
    if (!upstream || head.upgrade || head.chunked || tenantRefusal(head.method, head.contentLength, { bodyLimit: this.#options.bodyLimit, allowTrace: upstream.site.allowTrace })) {
      return this.#proxy.take(socket, bytes);
    }
    const waited = upstream.next(this.#options.queueTimeout);
    const port = typeof waited === 'object' ? await waited : waited;
    if (port === undefined) return this.#proxy.take(socket, bytes, true);
    if (socket.destroyed) return upstream.done(port);
    this.#oneShot.forward(socket, head, false, upstream.site.schema, port, () => upstream.done(port), {
      after: bytes.subarray(head.length),
      contentLength: head.contentLength,
      next: (client, rest) => this.#heads.read(client, ticket, rest),
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
    if (!this.#give(socket, ticket, bytes, upstream, port, false)) this.#proxy.take(socket, bytes);
  }

  /** One finished request: its access line and its count. */
  #report(entry: AccessEntry): void {
    if (this.#options.accessLog) this.#options.log.info({ access: entry }, 'request');
    this.#options.onResponse?.(entry);
  }
}
