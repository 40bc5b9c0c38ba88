// One-request connections (the client said `Connection: close` on its first
// request, which has no body): the router writes that request to the tenant's
// worker over a kept-alive loopback connection from a pool, and copies the
// response back with `Connection: close`, as nginx does with an upstream
// `keepalive` pool. The worker then pays for no connection of its own, and the
// router for no HTTP parser and no hand-off message: one-request traffic was
// the hand-off's slowest case (each socket passed to a worker waits for the
// worker's acknowledgement of the one before).
//
// The request head was checked strictly already (first-head.ts); its header
// lines are rewritten as the proxy path rewrites them (hop-by-hop removed,
// X-Forwarded-* and X-Request-Id set). The response is framed by its own
// headers (Content-Length, chunked, or until the worker closes) only to know
// when it ends; its bytes are passed on unchanged after a rewritten head.
import net, { type Socket } from 'node:net';
import type { AccessEntry } from '../http/access-entry.ts';
import { pathOf } from '../http/access-entry.ts';
import { forwardedFor, requestIdOf } from '../http/forwarded.ts';
import { hopByHopNames } from '../http/hop-by-hop.ts';
import { closingResponse } from '../http/closing-response.ts';
import { ChunkedBodyEnd } from './chunked-body-end.ts';
import type { FirstHead } from './first-head.ts';

/** The first request of a one-request connection, as first-head.ts read it. */
export type OneShotRequest = Pick<FirstHead, 'lines' | 'method' | 'target' | 'host'>;

export interface OneShotOptions {
  /** ms the worker may stay silent; 504 (or a cut response) after. */
  upstreamTimeout: number;
  /** Called once per request, as the proxy path reports a response. */
  finished: (entry: AccessEntry) => void;
}

/** ms a client may take to close its side after its response: then the router closes it. */
const lingerTimeout = 5000;
/** Idle pooled connections per worker port at most. */
const maxIdlePerPort = 256;
/** ms a pooled connection may stay idle (the worker keeps them for 10 minutes). */
const idleTimeout = 60_000;
/** Bytes of response head at most: a worker that sends more is treated as broken (502). */
const maxResponseHead = 64 * 1024;

const headEnd = Buffer.from('\r\n\r\n');
const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

/** Response framing: how the body's end is found. */
type Framing = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked'; end: ChunkedBodyEnd } | { kind: 'close' };

/** Kept-alive loopback connections to workers, by port. */
class UpstreamPool {
  readonly #idle = new Map<number, Map<Socket, () => void>>();

  /** A pooled connection to `port`, or a new one. */
  acquire(port: number): Socket {
    const idle = this.#idle.get(port);
    const first = idle?.entries().next();
    if (idle && first && !first.done) {
      const [socket, drop] = first.value;
      idle.delete(socket);
      socket.setTimeout(0);
      socket.off('close', drop);
      socket.off('timeout', drop);
      return socket;
    }
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    return socket;
  }

  /** Puts an idle connection back, to be closed after idleTimeout. */
  release(port: number, socket: Socket): void {
    let idle = this.#idle.get(port);
    if (!idle) {
      idle = new Map();
      this.#idle.set(port, idle);
    }
    if (socket.destroyed || idle.size >= maxIdlePerPort) return void socket.destroy();
    const list = idle;
    const drop = () => {
      list.delete(socket);
      socket.destroy();
    };
    socket.once('close', drop);
    socket.once('timeout', drop);
    socket.setTimeout(idleTimeout);
    list.set(socket, drop);
  }

  close(): void {
    for (const idle of this.#idle.values()) for (const socket of idle.keys()) socket.destroy();
    this.#idle.clear();
  }
}

/** The request head the worker receives: hop-by-hop headers out, X-Forwarded-* and X-Request-Id set. */
function upstreamHead(request: OneShotRequest, client: string, requestId: string): string {
  const named = new Set<string>();
  let prior: string | undefined;
  const kept: string[] = [request.lines[0]!];
  for (let i = 1; i < request.lines.length; i++) {
    const line = request.lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'connection') {
      for (const token of line.slice(colon + 1).split(',')) named.add(token.trim().toLowerCase());
      continue;
    }
    if (name === 'x-forwarded-for') {
      const value = line.slice(colon + 1).trim();
      prior = prior === undefined ? value : `${prior}, ${value}`;
      continue;
    }
    if (name === 'x-forwarded-proto' || name === 'x-forwarded-host' || name === 'x-request-id' || hopByHopNames.has(name)) continue;
    kept.push(line);
  }
  const lines = named.size === 0 ? kept : kept.filter((line, i) => i === 0 || !named.has(line.slice(0, line.indexOf(':')).toLowerCase()));
  lines.push(`x-forwarded-for: ${forwardedFor(prior, client)}`, 'x-forwarded-proto: http', `x-forwarded-host: ${request.host}`, `x-request-id: ${requestId}`, '', '');
  return lines.join('\r\n');
}

/** The response head the client receives: hop-by-hop headers out (but the body's framing), `Connection: close`, X-Request-Id. */
function clientHead(lines: string[], requestId: string): string {
  const named = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^connection:/i.test(line)) for (const token of line.slice(line.indexOf(':') + 1).split(',')) named.add(token.trim().toLowerCase());
  }
  let hasId = false;
  const kept: string[] = [lines[0]!];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const name = line.slice(0, line.indexOf(':')).trim().toLowerCase();
    if (name === 'transfer-encoding') kept.push(line);
    else if (hopByHopNames.has(name) || named.has(name)) continue;
    else {
      if (name === 'x-request-id') hasId = true;
      kept.push(line);
    }
  }
  if (!hasId) kept.push(`x-request-id: ${requestId}`);
  kept.push('connection: close', '', '');
  return kept.join('\r\n');
}

/** How the body of a response with `status` and head `lines` ends, for a request with `method`. */
function framingOf(method: string, status: number, lines: string[]): Framing | undefined {
  if (method === 'HEAD' || status === 204 || status === 304) return { kind: 'none' };
  let length: number | undefined;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      if (value.toLowerCase() !== 'chunked') return undefined;
      chunked = true;
    }
  }
  if (chunked) return length === undefined ? { kind: 'chunked', end: new ChunkedBodyEnd() } : undefined;
  return length === undefined ? { kind: 'close' } : { kind: 'length', remaining: length };
}

export class OneShot {
  readonly #pool = new UpstreamPool();
  readonly #options: OneShotOptions;

  constructor(options: OneShotOptions) {
    this.#options = options;
  }

  set upstreamTimeout(ms: number) {
    this.#options.upstreamTimeout = ms;
  }

  /**
   * Serves `request`, read from `client` (which said it sends no other), from
   * the worker on `port`; `done` is called once, when that worker is no longer
   * in use.
   */
  forward(client: Socket, request: OneShotRequest, tenant: string, port: number, done: () => void): void {
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(headerValue(request.lines, 'x-request-id'));
    const head = upstreamHead(request, client.remoteAddress ?? '', requestId);
    let status = 0;
    let bytes = 0;
    let over = false;
    let sent = false;
    const finish = (code: number) => {
      if (over) return;
      over = true;
      done();
      this.#options.finished({
        tenant, method: request.method, path: pathOf(request.target), status: code, bytes,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6, requestId,
      });
    };
    /** Gives up the upstream connection in use (the client went away). */
    let abandon: (() => void) | undefined;
    // Whatever the client sends after its last request is not read; a client
    // that goes away ends the exchange (499 unless the response was complete).
    client.once('close', () => {
      if (over) return;
      abandon?.();
      finish(499);
    });
    // Read on (and drop) what the client sends, so that its close is seen and
    // the router's own close sends a FIN, not a reset over unread bytes.
    client.on('data', () => {});
    client.resume();

    {
      const upstream = this.#pool.acquire(port);
      let buffered: Buffer | undefined;
      let framing: Framing | undefined;
      const release = (reusable: boolean) => {
        upstream.off('data', onData);
        upstream.off('close', onClose);
        upstream.off('timeout', onTimeout);
        upstream.setTimeout(0);
        if (reusable) this.#pool.release(port, upstream);
        else upstream.destroy();
      };
      const fail = (code: 502 | 504) => {
        release(false);
        if (!sent) client.end(closingResponse(code));
        else client.destroy();
        status = code;
        finish(code);
      };
      const complete = (reusable: boolean) => {
        release(reusable);
        client.end();
        client.setTimeout(lingerTimeout, () => client.destroy());
        finish(status);
      };
      const write = (chunk: Buffer) => {
        bytes += chunk.length;
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      };
      const onData = (chunk: Buffer) => {
        if (framing === undefined) {
          buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
          const end = buffered.indexOf(headEnd);
          if (end < 0) {
            if (buffered.length > maxResponseHead) fail(502);
            return;
          }
          const lines = buffered.toString('latin1', 0, end).split('\r\n');
          const code = Number(statusLine.exec(lines[0]!)?.[1] ?? 0);
          const rest = buffered.subarray(end + 4);
          buffered = undefined;
          if (code >= 100 && code < 200) {
            // An interim response (103 Early Hints): passed on; the final one follows.
            if (code === 101) return fail(502);
            // Header bytes were read as latin1: written back byte for byte.
            client.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
            if (rest.length > 0) onData(rest);
            return;
          }
          framing = code === 0 ? undefined : framingOf(request.method, code, lines);
          if (framing === undefined) return fail(502);
          status = code;
          sent = true;
          // The head and whatever of the body came with it leave in one write
          // (corked until the end of this turn): most responses are one packet.
          client.cork();
          process.nextTick(() => client.uncork());
          client.write(clientHead(lines, requestId), 'latin1');
          if (framing.kind === 'none') return complete(rest.length === 0);
          if (rest.length === 0) return;
          chunk = rest;
        }
        if (framing.kind === 'length') {
          if (chunk.length >= framing.remaining) {
            // Bytes past the body would be a second response: the connection is not reused.
            const reusable = chunk.length === framing.remaining;
            write(chunk.subarray(0, framing.remaining));
            framing.remaining = 0;
            return complete(reusable);
          }
          framing.remaining -= chunk.length;
          return write(chunk);
        }
        if (framing.kind === 'chunked') {
          const end = framing.end.scan(chunk);
          if (end === 'invalid') return fail(502);
          if (end === undefined) return write(chunk);
          write(chunk.subarray(0, end));
          return complete(end === chunk.length);
        }
        write(chunk);
      };
      const onClose = () => {
        // The worker closed: the end of a body framed by the close, else a failure
        // (a request is never sent twice: the worker may have acted on it). The
        // worker keeps idle connections far longer than the pool does, so a
        // pooled one is not closed under a request but by a worker that exits.
        if (framing?.kind === 'close') return complete(false);
        fail(502);
      };
      const onTimeout = () => fail(504);
      abandon = () => release(false);
      upstream.on('data', onData);
      upstream.once('close', onClose);
      upstream.once('timeout', onTimeout);
      upstream.setTimeout(this.#options.upstreamTimeout);
      upstream.write(head, 'latin1');
    }
  }

  /** Closes the idle pooled connections (shutdown). */
  close(): void {
    this.#pool.close();
  }
}

/** The value of the first header line named `name` (lower case), if any. */
function headerValue(lines: readonly string[], name: string): string | undefined {
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > name.length && line[name.length] === ':' && line.slice(0, name.length).toLowerCase() === name) return line.slice(name.length + 1).trim();
  }
  return undefined;
}
