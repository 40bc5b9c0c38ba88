// The public listener: maps Host to a tenant's workers and forwards. The request
// path is an ordered list of small passes; the first that answers ends it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import { ClientConnections } from './client-connections.ts';
import type { Forwarder } from './forwarder.ts';
import { normalizeHost, type HostTable } from './host-table.ts';

/** What the router needs of a tenant's workers. */
export interface Upstream {
  readonly site: { readonly schema: string };
  /** A ready worker's port; waits up to `timeout` ms; undefined when none is ready. */
  next(timeout: number): Promise<number | undefined> | number | undefined;
  /** The request (or WebSocket) given `port` by next() is over. */
  done(port: number): void;
}

/** What a reload may change. */
export interface RouterLimits {
  /** Bytes. */
  bodyLimit: number;
  /** ms a request waits for a worker that is not ready. */
  queueTimeout: number;
  /** ms a worker may stay silent before 504. */
  upstreamTimeout: number;
  /** ms for a client to send its request head; 408 after. */
  headersTimeout: number;
  /** ms for a client to send its whole request; 408 after. */
  requestTimeout: number;
  /** ms an idle client connection stays open. */
  keepAliveTimeout: number;
  /** Client connections at once. */
  maxConnections: number;
  /** Client connections one address may hold; 0 = no limit. */
  maxConnectionsPerClient: number;
  /** Write an access-log line per request. */
  accessLog: boolean;
}

export interface RouterOptions extends RouterLimits {
  /** Bytes of request head; fixed for the server's life. */
  maxHeaderSize: number;
  forwarder: Forwarder;
  log: Logger;
  /** Called once per finished request (metrics). */
  onResponse?: (entry: AccessEntry) => void;
}

export interface AccessEntry {
  tenant: string | null;
  method: string;
  path: string;
  status: number;
  bytes: number;
  durationMs: number;
  requestId: string;
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  requestId: string;
  started: bigint;
  sent: { bytes: number };
  tenant: string | null;
  upstream?: Upstream;
  /** The worker's port, once next() gave one: done(port) when the exchange ends. */
  port?: number;
}

type Pass = (x: Exchange) => boolean | Promise<boolean>;

/** X-Forwarded-For appended; -Proto and -Host replaced, whatever the client sent. */
function addForwardedHeaders(req: http.IncomingMessage): void {
  const client = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  req.headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  req.headers['x-forwarded-proto'] = 'http';
  req.headers['x-forwarded-host'] = req.headers.host!;
}

/** An empty response that closes its connection, for a socket no ServerResponse owns. */
function rawRefusal(status: number, extra = ''): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`;
}

/** Answers on a raw socket (parser errors, refused upgrades) and closes it. */
function refuseSocket(socket: Duplex, status: number): void {
  socket.end(rawRefusal(status));
}

/** Host header lines in a request: RFC 9112 §3.2 wants exactly one. */
function hostLines(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count += 1;
  }
  return count;
}

const absoluteForm = /^http:\/\/([^/?#]*)([^#]*)$/i;

/** Counts the body bytes written to `res`. */
function countBytes(res: http.ServerResponse): { bytes: number } {
  const counter = { bytes: 0 };
  const { write, end } = res;
  const add = (chunk: unknown) => {
    if (typeof chunk === 'string') counter.bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) counter.bytes += chunk.length;
  };
  res.write = function (this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
    add(chunk);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: http.ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(chunk);
    return (end as (...a: unknown[]) => http.ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  return counter;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

export class Router {
  readonly server: http.Server;
  #routes: HostTable<Upstream>;
  #options: RouterOptions;
  readonly #passes: Pass[];
  readonly #clients: ClientConnections;
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
    this.server = http.createServer({
      maxHeaderSize: options.maxHeaderSize,
      // How often Node checks headersTimeout/requestTimeout (default 30 s, too
      // coarse to cut off a client that trickles its headers).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, options.headersTimeout / 2)),
    }, (req, res) => void this.#handle(req, res));
    this.#clients = new ClientConnections(options);
    // Before http's own listener: a refused connection never reaches the parser.
    this.server.prependListener('connection', (socket: Socket) => {
      const refusal = this.#clients.admit(socket);
      if (refusal === undefined) return;
      // Written now (a fresh socket's first write goes straight out), then cut.
      socket.write(rawRefusal(refusal, 'Retry-After: 5\r\n'));
      socket.destroy();
      this.#options.onResponse?.({ tenant: null, method: '', path: '', status: refusal, bytes: 0, durationMs: 0, requestId: '' });
    });
    this.#applyServerLimits();
    this.server.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket, head));
    // Requests Node's parser refuses never reach a pass, nor a worker: a head over
    // maxHeaderSize, a timeout, or ambiguous framing (Content-Length together with
    // Transfer-Encoding, the request-smuggling shape).
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      refuseSocket(socket, status);
      this.#options.onResponse?.({ tenant: null, method: '', path: '', status, bytes: 0, durationMs: 0, requestId: '' });
    });
  }

  #applyServerLimits(): void {
    const o = this.#options;
    this.server.headersTimeout = o.headersTimeout;
    this.server.requestTimeout = o.requestTimeout;
    this.server.keepAliveTimeout = o.keepAliveTimeout;
    // Counted per client by ClientConnections, which makes room rather than refuse.
    this.#clients.limits = { maxConnections: o.maxConnections, maxConnectionsPerClient: o.maxConnectionsPerClient };
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
    this.#applyServerLimits();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
    req.headers['x-request-id'] = requestId;
    res.setHeader('x-request-id', requestId);
    const x: Exchange = { req, res, requestId, started: process.hrtime.bigint(), sent: countBytes(res), tenant: null };
    res.once('close', () => this.#finished(x));
    try {
      for (const pass of this.#passes) if (await pass(x)) return;
    } catch (error) {
      this.#options.log.error({ err: error, requestId }, 'router failed');
      this.#reply(x, 500, 'internal error');
    }
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
    addForwardedHeaders(x.req);
    return false;
  }

  async #forward(x: Exchange): Promise<boolean> {
    const waited = x.upstream!.next(this.#options.queueTimeout);
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
    const upstream = this.#route(req);
    if (Array.isArray(upstream)) return refuseSocket(socket, upstream[0]);
    const port = await upstream.next(this.#options.queueTimeout);
    if (port === undefined) return refuseSocket(socket, 503);
    addForwardedHeaders(req);
    socket.once('close', () => upstream.done(port));
    this.#options.forwarder.ws(req, socket, head, port);
  }

  #finished(x: Exchange): void {
    const { req, res } = x;
    const entry: AccessEntry = {
      tenant: x.tenant,
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      status: res.writableFinished ? res.statusCode : 499,
      bytes: x.sent.bytes,
      durationMs: Number(process.hrtime.bigint() - x.started) / 1e6,
      requestId: x.requestId,
    };
    if (x.port !== undefined) x.upstream!.done(x.port);
    if (this.#options.accessLog) this.#options.log.info({ access: entry }, 'request');
    this.#options.onResponse?.(entry);
  }
}
