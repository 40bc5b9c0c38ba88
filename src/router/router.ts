// The public listener: maps Host to a tenant's workers and forwards. The request
// path is an ordered list of small passes; the first that answers ends it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Forwarder } from './forwarder.ts';
import { normalizeHost, type HostTable } from './host-table.ts';

/** What the router needs of a tenant's workers. */
export interface Upstream {
  readonly site: { readonly schema: string };
  /** A ready worker's port; waits up to `timeout` ms; undefined when none is ready. */
  next(timeout: number): Promise<number | undefined> | number | undefined;
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

/** Answers on a raw socket (parser errors, refused upgrades) and closes it. */
function refuseSocket(socket: Duplex, status: number): void {
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

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
    this.server.maxConnections = o.maxConnections;
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

  /** The one host-resolution path, failing closed: an upstream, or the refusal. */
  #route(header: string | undefined): Upstream | [status: number, message: string] {
    if (header === undefined) return [400, 'missing Host header'];
    const name = normalizeHost(header);
    if (name === undefined) return [400, 'malformed Host header'];
    return this.#routes.lookup(name) ?? [404, 'unknown host'];
  }

  #resolve(x: Exchange): boolean {
    const upstream = this.#route(x.req.headers.host);
    if (Array.isArray(upstream)) return this.#reply(x, ...upstream);
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
    const upstream = this.#route(req.headers.host);
    if (Array.isArray(upstream)) return refuseSocket(socket, upstream[0]);
    const port = await upstream.next(this.#options.queueTimeout);
    if (port === undefined) return refuseSocket(socket, 503);
    addForwardedHeaders(req);
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
    if (this.#options.accessLog) this.#options.log.info({ access: entry }, 'request');
    this.#options.onResponse?.(entry);
  }
}
