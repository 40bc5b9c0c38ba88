// The proxy path: connections the router keeps (handoff off, the router not
// open yet, a first head the strict reader would not route, a refusal to give),
// and requests a worker sends back through the reroute listener. Node's parser
// reads them, then an ordered list of small passes runs; the first that answers
// ends it, and the last forwards to a worker.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pathOf, type AccessEntry } from '../http/access-entry.ts';
import { asteriskAnswer, headRefusal, refuse, tenantRefusal, type Refusal } from '../http/client-rules.ts';
import { answerAndClose } from '../http/closing-response.ts';
import { CountedResponse } from '../http/counted-response.ts';
import { clientAddress, trustedFront } from '../http/client-address.ts';
import { addForwardedHeaders, assignRequestId, clientErrorStatus } from '../http/forwarded.ts';
import { normalizeHost, type HostTable } from '../http/host-table.ts';
import type { RouterOptions } from './router-options.ts';
import { challengeToken } from '../tls/tenant-tls.ts';
import type { Upstream } from './upstream.ts';

/** What the proxy path reads of the router it belongs to: always the current value (a reload replaces them). */
export interface ProxyPathHost {
  routes(): HostTable<Upstream>;
  /** False until the sites are up: requests get 503. */
  open(): boolean;
  options(): RouterOptions;
  /** One finished request: its access line and its count. */
  report(entry: AccessEntry): void;
  /** A request refused before it had a tenant (counted, never logged as access). */
  refused(status: number): void;
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

/** Drops what it is given (errors the close that follows reports). */
function ignore(): void {}

const absoluteForm = /^http:\/\/([^/?#]*)([^#]*)$/i;

export class ProxyPath {
  /** Node's HTTP server: fed connections by the router's listener, never listening itself. */
  readonly server: http.Server;
  readonly #host: ProxyPathHost;
  readonly #passes: Pass[];
  /** Sockets whose hand-off already waited queueTimeout for a worker: the proxy path does not wait again. */
  readonly #waited = new WeakSet<Socket>();

  constructor(host: ProxyPathHost, serverOptions: http.ServerOptions) {
    this.#host = host;
    this.#passes = [
      // 0. An ACME HTTP-01 challenge tenantd ordered (tls.acme), for any Host, before host lookup.
      (x) => this.#challenge(x),
      // 1. Find the tenant from Host alone; X-Forwarded-Host never steers routing.
      (x) => this.#resolve(x),
      // 2. The tenant's rules: TRACE, a declared body over the limit.
      (x) => this.#tenantRules(x),
      // 3. Tell the worker who asked: X-Forwarded-For appended, -Proto and -Host set.
      (x) => this.#forwardedHeaders(x),
      // 4. Wait (bounded) for a ready worker, then forward.
      (x) => this.#forward(x),
    ];
    this.server = http.createServer({ ...serverOptions, ServerResponse: CountedResponse as typeof http.ServerResponse }, (req, res) => void this.handle(req, res as CountedResponse, false));
    // Node starts tracking a server's connections (headersTimeout, requestTimeout,
    // closeIdleConnections) on 'listening'; this one is fed by the listener.
    this.server.emit('listening');
    this.server.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket, head));
    // Requests Node's parser refuses never reach a pass, nor a worker: a head over
    // maxHeaderSize, a timeout, or ambiguous framing (Content-Length together with
    // Transfer-Encoding, the request-smuggling shape).
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = clientErrorStatus(error);
      answerAndClose(socket, status);
      this.#host.refused(status);
    });
    this.applyLimits();
  }

  /** The router's limits changed (reload). */
  applyLimits(): void {
    const o = this.#host.options();
    this.server.headersTimeout = o.headersTimeout;
    this.server.requestTimeout = o.requestTimeout;
    this.server.keepAliveTimeout = o.keepAliveTimeout;
  }

  /**
   * Takes `socket` for the whole connection; `bytes` were read from it already.
   * `waited`: its hand-off already waited queueTimeout for a worker.
   */
  take(socket: Socket, bytes?: Buffer, waited = false): void {
    if (waited) this.#waited.add(socket);
    if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes);
    this.server.emit('connection', socket);
    socket.resume();
  }

  /** One request: the passes in order. `rerouted`: a worker sent it back (reroute-listener.ts). */
  async handle(req: http.IncomingMessage, res: CountedResponse, rerouted: boolean): Promise<void> {
    const x: Exchange = { req, res, requestId: '', started: process.hrtime.bigint(), tenant: null, rerouted };
    const requestId = assignRequestId(req);
    res.setHeader('x-request-id', requestId);
    x.requestId = requestId;
    res.once('close', () => this.#finished(x));
    try {
      for (const pass of this.#passes) if (await pass(x)) return;
    } catch (error) {
      this.#host.options().log.error({ err: error, requestId }, 'router failed');
      refuse(res, { status: 500, message: 'internal error' });
    }
  }

  /** A request refused before it was read: answered, counted, never routed. */
  reject(req: http.IncomingMessage, res: CountedResponse, refusal: Refusal): void {
    const x: Exchange = { req, res, requestId: '', started: process.hrtime.bigint(), tenant: null, rerouted: true };
    res.once('close', () => this.#finished(x));
    refuse(res, refusal);
  }

  /**
   * The one host-resolution path, failing closed: the head's rules
   * (client-rules.ts), then a valid host and port; an absolute-form target's
   * authority wins over Host (and becomes the Host the worker sees). An
   * upstream, or the refusal.
   */
  #route(req: http.IncomingMessage): Upstream | Refusal {
    const o = this.#host.options();
    const shape = headRefusal(req, o);
    if (shape) return shape;
    let authority = req.headers.host!;
    const url = req.url ?? '';
    if (url === '*') {
      if (normalizeHost(authority) === undefined) return { status: 400, message: 'malformed Host header' };
      return asteriskAnswer(req.method);
    }
    if (!url.startsWith('/')) {
      const absolute = absoluteForm.exec(url);
      if (!absolute) return { status: 400, message: 'malformed request target' };
      authority = absolute[1]!;
      req.url = absolute[2] || '/';
      req.headers.host = authority;
    }
    const name = normalizeHost(authority);
    if (name === undefined) return { status: 400, message: 'malformed Host header' };
    if (!this.#host.open()) return { status: 503, message: 'tenantd is starting' };
    return this.#host.routes().lookup(name) ?? { status: 404, message: 'unknown host' };
  }

  /** Answers an HTTP-01 challenge of one of tenantd's orders; any other request goes on. */
  async #challenge(x: Exchange): Promise<boolean> {
    const lookup = this.#host.options().tls?.challenge;
    const { method, url } = x.req;
    if (!lookup || (method !== 'GET' && method !== 'HEAD') || url === undefined) return false;
    const token = challengeToken(url);
    if (token === undefined) return false;
    const answer = await lookup(token);
    if (answer === undefined) return false;
    x.res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(answer), 'cache-control': 'no-store' });
    x.res.end(method === 'HEAD' ? undefined : answer);
    return true;
  }

  #resolve(x: Exchange): boolean {
    const upstream = this.#route(x.req);
    if ('status' in upstream) {
      refuse(x.res, upstream);
      return true;
    }
    const redirect = this.#redirect(x, upstream);
    if (redirect) {
      refuse(x.res, redirect);
      return true;
    }
    x.upstream = upstream;
    x.tenant = upstream.site.schema;
    return false;
  }

  /** Plain HTTP for a host that has a certificate: 308 to https:// (tls.redirect), unless a trusted front or the worker that rerouted it says it came over HTTPS. */
  #redirect(x: Exchange, upstream: Upstream): Refusal | undefined {
    const tls = this.#host.options().tls;
    if (!tls) return undefined;
    const { req } = x;
    if ((x.rerouted || trustedFront(req.socket)) && req.headers['x-forwarded-proto'] === 'https') return undefined;
    const location = tls.redirect(upstream.site.schema, normalizeHost(req.headers.host!)!, req.url ?? '/');
    return location === undefined ? undefined : { status: 308, message: 'this site is served over HTTPS', headers: { location } };
  }

  #tenantRules(x: Exchange): boolean {
    const refusal = tenantRefusal(x.req.method, x.req.headers['content-length'], { ...this.#host.options(), allowTrace: x.upstream!.site.allowTrace });
    if (!refusal) return false;
    // A body that is not read: the connection closes after the answer.
    x.req.resume();
    refuse(x.res, refusal);
    return true;
  }

  #forwardedHeaders(x: Exchange): boolean {
    // A rerouted request carries the X-Forwarded-* the worker set from the client's connection.
    if (!x.rerouted) addForwardedHeaders(x.req);
    return false;
  }

  async #forward(x: Exchange): Promise<boolean> {
    const o = this.#host.options();
    const socket = x.req.socket;
    const timeout = this.#waited.has(socket) ? 0 : o.queueTimeout;
    this.#waited.delete(socket);
    const waited = x.upstream!.next(timeout);
    const port = typeof waited === 'object' ? await waited : waited;
    if (port !== undefined) x.port = port;
    if (x.res.destroyed) return true;
    if (port === undefined) {
      refuse(x.res, { status: 503, message: 'tenant not available' });
      return true;
    }
    const limits = { timeout: o.upstreamTimeout, bodyLimit: o.bodyLimit };
    o.forwarder.web(x.req, x.res, port, limits, (kind, error) => {
      if (kind === 'too-large') {
        x.req.unpipe();
        x.req.resume();
        refuse(x.res, { status: 413, message: 'request body too large' });
        return;
      }
      // A client that went away meanwhile is no fault of the worker's.
      const level = x.req.destroyed || x.res.destroyed ? 'debug' : 'warn';
      this.#host.options().log[level]({ tenant: x.tenant, requestId: x.requestId, err: error, kind }, 'forwarding failed');
      refuse(x.res, kind === 'timeout' ? { status: 504, message: 'worker timed out' } : { status: 502, message: 'worker unavailable' });
    });
    return true;
  }

  async #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node's server has taken its own 'error' listener off an upgraded socket:
    // a reset while this waits for a worker would otherwise end the process.
    socket.on('error', ignore);
    const upstream = this.#route(req);
    if ('status' in upstream) return answerAndClose(socket, upstream.status === 200 ? 400 : upstream.status);
    const refusal = tenantRefusal(req.method, req.headers['content-length'], { ...this.#host.options(), allowTrace: upstream.site.allowTrace });
    if (refusal) return answerAndClose(socket, refusal.status);
    const port = await upstream.next(this.#host.options().queueTimeout);
    if (port === undefined) return answerAndClose(socket, 503);
    addForwardedHeaders(req);
    socket.once('close', () => upstream.done(port));
    this.#host.options().forwarder.ws(req, socket, head, port);
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
      // A rerouted request's client is in the X-Forwarded-For the worker set.
      client: x.rerouted ? lastForwarded(req.headers['x-forwarded-for']) : clientAddress(req.socket),
    };
    if (x.port !== undefined) x.upstream!.done(x.port);
    this.#host.report(entry);
  }
}

/** The last address of an X-Forwarded-For list (the one the nearest hop added). */
function lastForwarded(value: string | string[] | undefined): string | undefined {
  const list = Array.isArray(value) ? value.join(', ') : value;
  return list?.slice(list.lastIndexOf(',') + 1).trim() || undefined;
}
