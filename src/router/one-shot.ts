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
import { answerAndClose } from '../http/closing-response.ts';
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

/** ms a client may take to receive the end of its response: then the router cuts the connection. */
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
  /** Idle connections by port, each with when it went idle (ms) and how it leaves the pool when it closes. */
  readonly #idle = new Map<number, Map<Socket, { since: number; drop: () => void }>>();

  /** A pooled connection to `port`, or a new one. */
  acquire(port: number): Socket {
    const idle = this.#idle.get(port);
    if (idle !== undefined && idle.size > 0) {
      const [socket, entry] = idle.entries().next().value as [Socket, { drop: () => void }];
      idle.delete(socket);
      socket.off('close', entry.drop);
      return socket;
    }
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    return socket;
  }

  /** Puts an idle connection back (closed by sweep() after idleTimeout). */
  release(port: number, socket: Socket, now: number): void {
    let idle = this.#idle.get(port);
    if (!idle) {
      idle = new Map();
      this.#idle.set(port, idle);
    }
    if (socket.destroyed || idle.size >= maxIdlePerPort) return void socket.destroy();
    const list = idle;
    const drop = () => list.delete(socket);
    socket.once('close', drop);
    list.set(socket, { since: now, drop });
  }

  /** Closes the connections idle for idleTimeout ms. */
  sweep(now: number): void {
    for (const idle of this.#idle.values()) {
      for (const [socket, entry] of idle) if (now - entry.since >= idleTimeout) socket.destroy();
    }
  }

  close(): void {
    for (const idle of this.#idle.values()) for (const socket of idle.keys()) socket.destroy();
    this.#idle.clear();
  }
}

/** The name of a header line, lower case. */
function nameOf(line: string): string {
  return line.slice(0, line.indexOf(':')).trim().toLowerCase();
}

/** Does nothing (a listener that drops what it is given). */
const ignore = (): void => {};

/** The tokens a Connection header line names, lower case. */
function connectionTokens(line: string, into: Set<string>): void {
  const value = line.slice(line.indexOf(':') + 1);
  // Most name one token (close, keep-alive): no list to split.
  if (!value.includes(',')) return void into.add(value.trim().toLowerCase());
  for (const token of value.split(',')) into.add(token.trim().toLowerCase());
}

/**
 * The request head the worker receives, in one pass over the client's lines:
 * hop-by-hop headers (and those Connection names) out, X-Forwarded-For
 * appended, X-Forwarded-Proto/-Host set, X-Request-Id kept when a plain token.
 */
function upstreamHead(request: OneShotRequest, client: string): { head: string; requestId: string } {
  let named: Set<string> | undefined;
  let prior: string | undefined;
  let incomingId: string | undefined;
  const kept: string[] = [request.lines[0]!];
  const names: string[] = [''];
  for (let i = 1; i < request.lines.length; i++) {
    const line = request.lines[i]!;
    const name = nameOf(line);
    if (name === 'connection') {
      connectionTokens(line, named ??= new Set());
    } else if (name === 'x-forwarded-for') {
      const value = line.slice(line.indexOf(':') + 1).trim();
      prior = prior === undefined ? value : `${prior}, ${value}`;
    } else if (name === 'x-request-id') {
      incomingId ??= line.slice(line.indexOf(':') + 1).trim();
    } else if (name !== 'x-forwarded-proto' && name !== 'x-forwarded-host' && !hopByHopNames.has(name)) {
      kept.push(line);
      names.push(name);
    }
  }
  // Filtered only when the Connection header names one of them (not for the usual `close`).
  const lines = named === undefined || !names.some((name) => named.has(name)) ? kept : kept.filter((_, i) => i === 0 || !named.has(names[i]!));
  const requestId = requestIdOf(incomingId);
  lines.push(`x-forwarded-for: ${forwardedFor(prior, client)}`, 'x-forwarded-proto: http', `x-forwarded-host: ${request.host}`, `x-request-id: ${requestId}`, '', '');
  return { head: lines.join('\r\n'), requestId };
}

/** Header lines of a head (`head` without its status line), one at a time: no array of lines. */
function* headerLines(head: string): Generator<string> {
  for (let at = head.indexOf('\r\n'); at >= 0;) {
    const next = head.indexOf('\r\n', at + 2);
    yield head.slice(at + 2, next < 0 ? head.length : next);
    at = next;
  }
}

/**
 * The final response's head as the client receives it (hop-by-hop headers out
 * but the body's framing, `Connection: close`, X-Request-Id), and how its body
 * ends; undefined when its framing is ambiguous (502). `head` is the worker's,
 * up to the blank line. One pass over its lines, built up as it goes; a second
 * only when its Connection header names a header that is not hop-by-hop.
 */
function responseHead(method: string, status: number, head: string, requestId: string): { head: string; framing: Framing } | undefined {
  let length: number | undefined;
  let chunked = false;
  let hasId = false;
  /** Headers the Connection header names that are not removed as hop-by-hop anyway. */
  let named: Set<string> | undefined;
  const statusEnd = head.indexOf('\r\n');
  let out = statusEnd < 0 ? head : head.slice(0, statusEnd);
  for (const line of headerLines(head)) {
    const name = nameOf(line);
    if (name === 'content-length') {
      const value = line.slice(line.indexOf(':') + 1).trim();
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      if (line.slice(line.indexOf(':') + 1).trim().toLowerCase() !== 'chunked') return undefined;
      chunked = true;
      out += `\r\n${line}`;
      continue;
    } else if (name === 'connection') {
      const tokens = new Set<string>();
      connectionTokens(line, tokens);
      for (const token of tokens) if (token && !hopByHopNames.has(token)) (named ??= new Set()).add(token);
      continue;
    } else if (name === 'x-request-id') {
      hasId = true;
    }
    if (hopByHopNames.has(name)) continue;
    out += `\r\n${line}`;
  }
  if (named !== undefined) {
    // Rare: rebuilt without the headers the Connection header names (the
    // body's framing stays: it is how the router finds the body's end).
    out = statusEnd < 0 ? head : head.slice(0, statusEnd);
    hasId = false;
    for (const line of headerLines(head)) {
      const name = nameOf(line);
      if (name === 'connection' || (hopByHopNames.has(name) && name !== 'transfer-encoding')) continue;
      if (named.has(name) && name !== 'transfer-encoding') continue;
      if (name === 'x-request-id') hasId = true;
      out += `\r\n${line}`;
    }
  }
  if (!hasId) out += `\r\nx-request-id: ${requestId}`;
  out += '\r\nconnection: close\r\n\r\n';
  let framing: Framing;
  if (method === 'HEAD' || status === 204 || status === 304) framing = { kind: 'none' };
  else if (chunked) {
    if (length !== undefined) return undefined;
    framing = { kind: 'chunked', end: new ChunkedBodyEnd() };
  } else framing = length === undefined ? { kind: 'close' } : { kind: 'length', remaining: length };
  return { head: out, framing };
}

/** An exchange waiting on its worker: when it last heard from it, and what to do when that is too long ago. */
interface Waiting { since: number; expire: () => void }

export class OneShot {
  readonly #pool = new UpstreamPool();
  readonly #options: OneShotOptions;
  readonly #waiting = new Set<Waiting>();
  /** Clients answered, by when they must have taken their response. */
  readonly #lingering = new Map<Socket, number>();
  /**
   * One timer for every deadline (a silent worker, an idle pooled connection, a
   * client that does not close), swept a few times per upstreamTimeout: no timer
   * is set or cleared per request.
   */
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: OneShotOptions) {
    this.#options = options;
    this.#schedule();
  }

  set upstreamTimeout(ms: number) {
    this.#options.upstreamTimeout = ms;
    this.#schedule();
  }

  #schedule(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(10, Math.min(1000, this.#options.upstreamTimeout / 4)));
    this.#sweeper.unref();
  }

  #sweep(): void {
    const now = performance.now();
    for (const waiting of this.#waiting) if (now - waiting.since >= this.#options.upstreamTimeout) waiting.expire();
    for (const [client, deadline] of this.#lingering) if (now >= deadline) client.destroy();
    this.#pool.sweep(now);
  }

  /**
   * Serves `request`, read from `client` (which said it sends no other), from
   * the worker on `port`; `done` is called once, when that worker is no longer
   * in use.
   */
  forward(client: Socket, request: OneShotRequest, tenant: string, port: number, done: () => void): void {
    const started = performance.now();
    const { head, requestId } = upstreamHead(request, client.remoteAddress ?? '');
    const upstream = this.#pool.acquire(port);
    let status = 0;
    let bytes = 0;
    let over = false;
    let sent = false;
    let buffered: Buffer | undefined;
    let framing: Framing | undefined;
    const finish = (code: number) => {
      if (over) return;
      over = true;
      done();
      this.#options.finished({
        tenant, method: request.method, path: pathOf(request.target), status: code, bytes,
        durationMs: performance.now() - started, requestId,
      });
    };
    const waiting: Waiting = { since: performance.now(), expire: () => fail(504) };
    const release = (reusable: boolean) => {
      this.#waiting.delete(waiting);
      upstream.off('data', onData);
      upstream.off('close', onClose);
      if (reusable) this.#pool.release(port, upstream, performance.now());
      else upstream.destroy();
    };
    const fail = (code: 502 | 504) => {
      release(false);
      if (!sent) answerAndClose(client, code);
      else client.destroy();
      status = code;
      finish(code);
    };
    const complete = (reusable: boolean) => {
      release(reusable);
      // Closed once the response is written (as nginx closes after a bodyless
      // request), not after the client's own close: fewer events per
      // connection. A client that does not take its response is cut later.
      client.destroySoon();
      if (!client.destroyed) this.#lingering.set(client, performance.now() + lingerTimeout);
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
      waiting.since = performance.now();
      if (framing === undefined) {
        buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf(headEnd);
        if (end < 0) {
          if (buffered.length > maxResponseHead) fail(502);
          return;
        }
        const head = buffered.toString('latin1', 0, end);
        const lineEnd = head.indexOf('\r\n');
        const code = Number(statusLine.exec(lineEnd < 0 ? head : head.slice(0, lineEnd))?.[1] ?? 0);
        const bytes = buffered;
        const rest = buffered.subarray(end + 4);
        buffered = undefined;
        if (code >= 100 && code < 200) {
          // An interim response (103 Early Hints): passed on, byte for byte; the final one follows.
          if (code === 101) return fail(502);
          client.write(bytes.subarray(0, end + 4));
          if (rest.length > 0) onData(rest);
          return;
        }
        const response = code === 0 ? undefined : responseHead(request.method, code, head, requestId);
        if (response === undefined) return fail(502);
        framing = response.framing;
        status = code;
        sent = true;
        // The head and whatever of the body came with it leave in one write
        // (corked until the end of this turn): most responses are one packet.
        client.cork();
        process.nextTick(() => client.uncork());
        client.write(response.head, 'latin1');
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
    // A client that goes away ends the exchange (499 unless the response was complete).
    client.once('close', () => {
      this.#lingering.delete(client);
      if (over) return;
      release(false);
      finish(499);
    });
    // Read on (and drop) what the client sends after its request, so that a
    // client that goes first is seen, and the router's close sends a FIN, not
    // a reset over unread bytes.
    client.on('data', ignore);
    client.resume();
    this.#waiting.add(waiting);
    upstream.on('data', onData);
    upstream.once('close', onClose);
    upstream.write(head, 'latin1');
  }

  /** Closes the idle pooled connections (shutdown). */
  close(): void {
    clearInterval(this.#sweeper);
    this.#pool.close();
  }
}
