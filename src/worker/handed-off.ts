// The client connections the router handed to this worker. Their requests meet
// the router's rules here, in tenantd's code around the application: one Host
// line naming this tenant (a request for another tenant is answered through the
// router, and its connection closed), the body, head, time and keep-alive
// limits, X-Forwarded-For/Proto/Host and X-Request-Id as the router sets them,
// hop-by-hop headers removed both ways, one access-log line per request, and
// counts the primary adds to /metrics. Draining closes idle connections and
// ends busy ones after their response.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { pathOf, type AccessEntry } from '../http/access-entry.ts';
import { clientAddress, clientInfoOf, markClient, trustedFront, type ClientInfo } from '../http/client-address.ts';
import type { ClientLimits } from '../http/client-limits.ts';
import { headRefusal, refuse, sweepInterval, tenantRefusal, type Refusal } from '../http/client-rules.ts';
import { answerAndClose } from '../http/closing-response.ts';
import { stripHopByHop } from '../http/hop-by-hop.ts';
import { addForwardedHeaders, assignRequestId, clientErrorStatus } from '../http/forwarded.ts';
import { HostTable, normalizeHost } from '../http/host-table.ts';
import { countRequest, emptyCounts, type RequestCounts } from '../http/request-stats.ts';
import { SlotList } from '../http/slot-list.ts';
import { challengeToken, httpsLocation, redirectable, type TenantTls } from '../tls/tenant-tls.ts';
import { HandedOffResponse } from './handed-off-response.ts';
import { reroute } from './reroute.ts';
import { TlsTerminator } from './tls-terminator.ts';

/** ms between reports of request counts to the primary (the scrape reads the last). */
const reportInterval = 100;
/**
 * ms a closed connection waits to be reported: the router counts it against
 * maxConnectionsPerClient until then, so a client that opens one connection per
 * request must not see its closed ones counted for long.
 */
const closeReportDelay = 5;
/** ms between sweeps for idle connections while draining. */
const drainSweep = 25;
/**
 * ms a connection must have been idle before a draining worker closes it. A
 * client reusing its connection sends its next request at any moment; closing
 * under it would lose that request. A connection in use gets its next answer
 * with Connection: close instead; only one left quiet this long is closed.
 */
const drainQuiet = 250;

/** The connections' report to the primary. */
export interface HandedOffReport {
  closed: number[];
  requests: RequestCounts | null;
}

export interface HandedOffOptions {
  schema: string;
  hosts: readonly string[];
  /** TRACE reaches the application (the tenant's allowTrace); else 405. */
  allowTrace: boolean;
  /** The application's request listener (already wrapped for database errors). */
  listener: http.RequestListener;
  /** The application's server, whose 'upgrade' listeners get WebSocket requests. */
  appServer: http.Server;
  limits: ClientLimits;
  /** The tenant's certificates and keys, when the router has a TLS listener. */
  tls?: TenantTls | undefined;
  log: Logger;
  report: (report: HandedOffReport) => void;
}

type Response = HandedOffResponse<Exchange>;

/** The request and response, while the application has them. */
interface Exchange {
  req: http.IncomingMessage;
  res: Response;
  /**
   * The request's connection, kept from its arrival: Node sets req.socket and
   * res.socket to null once the response is done with them (an abort closes
   * the socket under the application), so nothing after arrival reads them.
   */
  socket: Marked;
  /** performance.now() at arrival. */
  started: number;
  /** performance.now() after which an application that has not started its response gets 504. */
  deadline: number;
  requestId: string;
  /** null: a malformed request, which matched no tenant. */
  tenant: string | null;
  /** The status tenantd answered on the raw socket (413, 504) while the application held `res`. */
  aborted?: number;
  /** Its index in HandedOff's list of exchanges the application holds; -1 when not in it. */
  slot: number;
}

/** A request on a TLS connection for a host its certificate was not chosen for. */
const misdirected: Refusal = { status: 421, message: 'this connection serves another host: open a new connection for it' };

/** Drops a socket error (the close that follows ends what it concerns). */
function ignore(): void {}

/** On a socket: the last Host value found to be this tenant's (a keep-alive client sends the same one each time). */
const knownHost = Symbol('tenantd.knownHost');
/** On a TLS socket: the id of the connection the router handed off. */
const connectionId = Symbol('tenantd.connectionId');
/** On a socket: requests on it not yet answered, and when the last one was (performance.now()). */
const activity = Symbol('tenantd.activity');
type Marked = Socket & { [knownHost]?: string; [activity]?: { busy: number; since: number } };

export class HandedOff {
  readonly #server: http.Server;
  readonly #hosts = new HostTable<true>();
  readonly #options: HandedOffOptions;
  #limits: ClientLimits;
  readonly #sockets = new Map<number, Socket>();
  /** Terminates the connections of the TLS listener; undefined until the primary sends certificates. */
  #tls: TlsTerminator | undefined;
  /** The exchanges the application holds (a SlotList: a Set would hash each new one). */
  readonly #exchanges = new SlotList<Exchange>();
  #counts: RequestCounts = emptyCounts();
  #closed: number[] = [];
  #reportTimer: NodeJS.Timeout | undefined;
  #reportDue = 0;
  #timeoutTimer: NodeJS.Timeout | undefined;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  #draining = false;
  #drained: Promise<void> | undefined;
  /** Every request goes back through the router (the tenant moves: handBack). */
  #handingBack = false;
  /** One close hook for every response (a closure per request costs more). */
  readonly #responseClosed: (response: Response) => void;

  constructor(options: HandedOffOptions) {
    this.#options = options;
    this.#limits = options.limits;
    const finished = (x: Exchange) => this.#finished(x);
    const fault = (error: unknown, socket: Socket | null) => this.#fault(error, socket);
    this.#responseClosed = (response: Response) => {
      const x = response.exchange;
      response.exchange = undefined;
      try {
        if (x) finished(x);
      } catch (error) {
        fault(error, x?.socket ?? null);
      }
    };
    for (const host of options.hosts) this.#hosts.add(host, true);
    this.#server = http.createServer({
      maxHeaderSize: options.limits.maxHeaderSize,
      ServerResponse: HandedOffResponse as unknown as typeof http.ServerResponse,
      connectionsCheckingInterval: sweepInterval(options.limits.headersTimeout),
    }, (req, res) => {
      // tenantd's own code runs guarded: a fault in it ends the connection, never
      // the worker. The application's listener runs outside (its errors are the
      // worker's to handle: worker-main.ts).
      let serve = false;
      try {
        serve = this.#request(req, res as Response);
      } catch (error) {
        this.#fault(error, req.socket);
      }
      if (serve) this.#options.listener(req, res);
    });
    // Node tracks a server's connections (timeouts, closeIdleConnections) from
    // 'listening'; this server never listens: the router gives it its sockets.
    this.#server.emit('listening');
    this.#server.on('upgrade', (req, socket, head) => {
      try {
        this.#upgrade(req, socket, head);
      } catch (error) {
        this.#fault(error, socket as Socket);
      }
    });
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      try {
        if (!socket.writable) return socket.destroy();
        const status = clientErrorStatus(error);
        answerAndClose(socket, status);
        const entry: AccessEntry | undefined = this.#limits.accessLog ? { tenant: null, method: '', path: '', status, bytes: 0, durationMs: 0, requestId: '' } : undefined;
        this.#count(status, 0, entry);
      } catch (fault) {
        this.#fault(fault, socket as Socket);
      }
    });
    this.setLimits(options.limits);
    if (options.tls) this.setTls(options.tls);
  }

  /** The tenant's certificates or ticket keys changed (or were first sent). */
  setTls(config: TenantTls): void {
    if (this.#tls) return this.#tls.update(config);
    this.#tls = new TlsTerminator(this.#options.schema, config, (socket) => {
      try {
        this.#secure(socket);
      } catch (error) {
        this.#fault(error, socket);
      }
    }, this.#options.log);
  }

  /** A TLS connection whose handshake finished: its requests are served as a plain connection's. */
  #secure(socket: Socket): void {
    // Node's TLS socket's handle (its TLSWrap) keeps the raw socket it wraps as
    // _parentWrap (a private field, the same from Node 12 to 24): the id and
    // what the router learned of the client are on it.
    const raw = (socket as unknown as { _handle?: { _parentWrap?: Socket & { [connectionId]?: number } } })._handle?._parentWrap;
    const id = raw?.[connectionId];
    if (id !== undefined && this.#sockets.has(id)) this.#sockets.set(id, socket);
    markClient(socket, clientInfoOf(raw));
    this.#server.emit('connection', socket);
  }

  setLimits(limits: ClientLimits): void {
    this.#limits = limits;
    this.#server.headersTimeout = limits.headersTimeout;
    this.#server.requestTimeout = limits.requestTimeout;
    this.#server.keepAliveTimeout = limits.keepAliveTimeout;
    clearInterval(this.#timeoutTimer);
    this.#timeoutTimer = setInterval(() => this.#expire(), sweepInterval(limits.upstreamTimeout)).unref();
  }

  /**
   * Takes connection `id` from the router: `head` is what it read of the socket
   * already; `tls`: it came to the TLS listener (`head` is its ClientHello);
   * `client`: what a trusted front's PROXY header said of the client.
   */
  accept(id: number, socket: Socket, head: Buffer, tls = false, client?: ClientInfo): void {
    if (this.#draining || (tls && !this.#tls)) {
      socket.destroy();
      this.#closed.push(id);
      return this.#schedule(closeReportDelay);
    }
    markClient(socket, client);
    this.#sockets.set(id, socket);
    socket.once('close', () => {
      this.#sockets.delete(id);
      this.#closed.push(id);
      this.#schedule(closeReportDelay);
    });
    if (tls) {
      (socket as Socket & { [connectionId]?: number })[connectionId] = id;
      return this.#tls!.accept(socket, head);
    }
    if (head.length > 0) socket.unshift(head);
    this.#server.emit('connection', socket);
  }

  /** The router needs the room (maxConnections): close connection `id`. */
  close(id: number): void {
    this.#sockets.get(id)?.destroy();
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Every response from now on closes its connection; connections that stay
   * idle for drainQuiet ms are closed; what remains after `timeout` ms is cut.
   */
  /**
   * From now on every request is answered through the router (its connection
   * closed after); resolves once none that this worker serves itself is in flight.
   */
  async handBack(): Promise<void> {
    this.#handingBack = true;
    while (this.#exchanges.items.some((x) => x.tenant !== null)) await new Promise((resolve) => setTimeout(resolve, 2));
  }

  drain(timeout: number): Promise<void> {
    this.#drained ??= this.#drain(timeout);
    return this.#drained;
  }

  async #drain(timeout: number): Promise<void> {
    this.#draining = true;
    for (const x of this.#exchanges.items) if (!x.res.headersSent) x.res.shouldKeepAlive = false;
    const deadline = Date.now() + timeout;
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      const now = performance.now();
      for (const socket of this.#sockets.values() as Iterable<Marked>) {
        const state = socket[activity];
        if (!state || (state.busy === 0 && now - state.since >= drainQuiet)) socket.destroySoon();
      }
      await new Promise((resolve) => setTimeout(resolve, drainSweep));
    }
    this.#server.closeAllConnections();
    for (const socket of this.#sockets.values()) socket.destroy();
    clearInterval(this.#timeoutTimer);
    this.#agent.destroy();
    this.flush();
  }

  /** Sends what is pending to the primary now. */
  flush(): void {
    clearTimeout(this.#reportTimer);
    this.#reportTimer = undefined;
    if (this.#closed.length === 0 && this.#counts.count === 0) return;
    const report: HandedOffReport = { closed: this.#closed, requests: this.#counts.count > 0 ? this.#counts : null };
    this.#closed = [];
    this.#counts = emptyCounts();
    this.#options.report(report);
  }

  /** Reports within `delay` ms (sooner if already due sooner). */
  #schedule(delay = reportInterval): void {
    // A report already due is due within reportInterval: the common case, per request.
    if (this.#reportTimer !== undefined && delay >= reportInterval) return;
    const due = Date.now() + delay;
    if (this.#reportTimer !== undefined && this.#reportDue <= due) return;
    clearTimeout(this.#reportTimer);
    this.#reportDue = due;
    this.#reportTimer = setTimeout(() => this.flush(), delay);
  }

  /** One finished request: counted, and its access line when the access log is on (`entry` is built only then). */
  #count(status: number, durationMs: number, entry: AccessEntry | undefined): void {
    countRequest(this.#counts, status, durationMs);
    if (entry !== undefined) this.#options.log.info({ access: entry }, 'request');
    this.#schedule();
  }

  /**
   * Whose request this is: this tenant's, another's (or a target only the
   * router resolves: absolute-form, `*`), or a refusal of its head
   * (client-rules.ts, as the router's).
   */
  #whose(req: http.IncomingMessage): 'ours' | 'foreign' | Refusal {
    const refusal = headRefusal(req, this.#limits);
    if (refusal) return refusal;
    const url = req.url ?? '';
    const socket = req.socket as Marked;
    const encrypted = (socket as { encrypted?: boolean }).encrypted === true;
    if (!url.startsWith('/')) return encrypted && url !== '*' && !this.#ownsAbsolute(url) ? misdirected : 'foreign';
    // ACME's HTTP-01 challenges (tls.acme) are the router's to answer.
    if (!encrypted && this.#tls?.config.acme && challengeToken(url) !== undefined) return 'foreign';
    if (this.#handingBack) return 'foreign';
    const host = req.headers.host!;
    if (socket[knownHost] === host) return 'ours';
    const name = normalizeHost(host);
    if (name === undefined) return { status: 400, message: 'malformed Host header' };
    // On a TLS connection, another tenant's Host is never served: the
    // certificate was this tenant's (RFC 9110 §15.5.20).
    if (!this.#hosts.lookup(name)) return encrypted ? misdirected : 'foreign';
    socket[knownHost] = host;
    return 'ours';
  }

  /**
   * HTTPS rules (tls): over TLS, Strict-Transport-Security when tls.hsts is set;
   * over plain HTTP, a host with a certificate is redirected to https:// (308),
   * unless a trusted front says the request came over HTTPS.
   */
  #https(req: http.IncomingMessage, res: Response, socket: Socket): Refusal | undefined {
    const config = this.#tls!.config;
    if ((socket as { encrypted?: boolean }).encrypted) {
      if (config.hsts > 0) res.setHeader('strict-transport-security', `max-age=${config.hsts}`);
      return undefined;
    }
    if (config.redirectPort === undefined) return undefined;
    if (trustedFront(socket) && req.headers['x-forwarded-proto'] === 'https') return undefined;
    const target = req.url ?? '/';
    const hostname = normalizeHost(req.headers.host!);
    if (hostname === undefined || !redirectable(target) || !this.#tls!.covers(hostname)) return undefined;
    return { status: 308, message: 'this site is served over HTTPS', headers: { location: httpsLocation(hostname, config.redirectPort, target) } };
  }

  /** An absolute-form target naming one of this tenant's hosts. */
  #ownsAbsolute(url: string): boolean {
    try {
      const name = normalizeHost(new URL(url).host);
      return name !== undefined && this.#hosts.lookup(name) !== undefined;
    } catch {
      return false;
    }
  }

  /** X-Forwarded-* and X-Request-Id, as the router sets them on the proxy path. */
  #forwarded(req: http.IncomingMessage): string {
    addForwardedHeaders(req);
    return assignRequestId(req);
  }

  /** A fault in tenantd's code on a connection: logged, and that connection closed. */
  #fault(error: unknown, socket: Socket | null): void {
    this.#options.log.error({ err: error }, 'a handed-off connection failed; it is closed');
    socket?.destroy();
  }

  /** Applies tenantd's rules to a request; true when the application is to answer it. */
  #request(req: http.IncomingMessage, res: Response): boolean {
    const started = performance.now();
    const whose = this.#whose(req);
    if (whose === 'foreign') {
      // Another tenant's request: answered through the router, which logs and
      // counts it; the connection closes after, so the next request is routed afresh.
      // Busy meanwhile: a drain (this worker stopping) waits for its answer.
      const state = (req.socket as Marked)[activity] ??= { busy: 0, since: started };
      state.busy += 1;
      res.once('close', () => {
        state.busy -= 1;
        state.since = performance.now();
      });
      res.shouldKeepAlive = false;
      this.#forwarded(req);
      stripHopByHop(req.headers);
      reroute(req, res, this.#limits.reroute, this.#agent, this.#options.log);
      return false;
    }
    const ours = whose === 'ours';
    const requestId = ours ? this.#forwarded(req) : '';
    const socket = req.socket as Marked;
    const x: Exchange = { req, res, socket, started, deadline: started + this.#limits.upstreamTimeout, requestId, tenant: ours ? this.#options.schema : null, slot: -1 };
    const state = socket[activity] ??= { busy: 0, since: started };
    state.busy += 1;
    res.exchange = x;
    res.onClose = this.#responseClosed;
    if (!ours) {
      refuse(res, whose);
      return false;
    }
    res.requestId = requestId;
    if (this.#draining) res.shouldKeepAlive = false;
    if (this.#tls !== undefined) {
      const redirect = this.#https(req, res, socket);
      if (redirect) {
        req.resume();
        refuse(res, redirect);
        return false;
      }
    }
    const refusal = tenantRefusal(req.method, req.headers['content-length'], { bodyLimit: this.#limits.bodyLimit, allowTrace: this.#options.allowTrace });
    if (refusal) {
      // A body that is not read: the connection closes after the answer.
      req.resume();
      refuse(res, refusal);
      return false;
    }
    if (req.headers['transfer-encoding'] !== undefined) this.#limitChunked(x);
    stripHopByHop(req.headers);
    this.#exchanges.add(x);
    return true;
  }

  /**
   * A chunked body is counted as Node's parser hands it over (IncomingMessage's
   * push, the one place every body byte passes before the application reads
   * it); past the limit the connection gets 413 and is closed.
   */
  #limitChunked(x: Exchange): void {
    const { req } = x;
    let seen = 0;
    const push = req.push;
    req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk !== null && typeof chunk === 'object') seen += (chunk as Buffer).length;
      if (seen <= this.#limits.bodyLimit) return push.call(req, chunk, encoding);
      req.push = () => false;
      try {
        this.#abort(x, 413);
      } catch (error) {
        this.#fault(error, x.socket);
      }
      return false;
    };
  }

  /** Answers `status` on the raw socket (the application still holds `res`) and closes it. */
  #abort(x: Exchange, status: number): void {
    if (x.res.headersSent) return void x.socket.destroy();
    x.res.statusCode = status;
    x.aborted = status;
    answerAndClose(x.socket, status, { body: true });
  }

  /** An application that has not started its response within upstreamTimeout: 504, as the proxy path answers. */
  #expire(): void {
    const now = performance.now();
    const exchanges = this.#exchanges.items;
    // Backwards (see SlotList): an exchange may leave the list here.
    for (let i = exchanges.length - 1; i >= 0; i--) {
      const x = exchanges[i]!;
      if (x.deadline > now || x.res.headersSent) continue;
      this.#exchanges.remove(x);
      this.#options.log.warn({ requestId: x.requestId, path: pathOf(x.req.url) }, 'application timed out');
      try {
        this.#abort(x, 504);
      } catch (error) {
        this.#fault(error, x.socket);
      }
    }
  }

  #finished(x: Exchange): void {
    this.#exchanges.remove(x);
    const { req, res } = x;
    const now = performance.now();
    const state = x.socket[activity]!;
    state.busy -= 1;
    state.since = now;
    const status = x.aborted ?? (res.writableFinished ? res.statusCode : 499);
    const durationMs = now - x.started;
    // The access entry only when it is logged: the counts need none.
    const entry: AccessEntry | undefined = this.#limits.accessLog
      ? { tenant: x.tenant, method: req.method ?? '', path: pathOf(req.url), status, bytes: x.aborted ? 0 : res.bodyBytes, durationMs, requestId: x.requestId, client: clientAddress(x.socket) }
      : undefined;
    this.#count(status, durationMs, entry);
  }


  /** WebSocket and other upgrades: the application's server's 'upgrade' listeners, as on the proxy path. */
  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's server has taken its own 'error' listener off an upgraded socket:
    // a reset before the application takes it would otherwise end the worker.
    socket.on('error', ignore);
    const whose = this.#whose(req);
    if (whose !== 'ours' || this.#options.appServer.listenerCount('upgrade') === 0) {
      // Not this tenant's (or not served here): 421 tells the client to try a new connection (RFC 9110 §15.5.20).
      return answerAndClose(socket, whose === 'foreign' ? 421 : whose === 'ours' ? 400 : whose.status, { body: true });
    }
    const refusal = tenantRefusal(req.method, req.headers['content-length'], { bodyLimit: this.#limits.bodyLimit, allowTrace: this.#options.allowTrace });
    if (refusal) return answerAndClose(socket, refusal.status, { body: true });
    this.#forwarded(req);
    stripHopByHop(req.headers, ['connection', 'upgrade']);
    this.#options.appServer.emit('upgrade', req, socket, head);
  }
}
