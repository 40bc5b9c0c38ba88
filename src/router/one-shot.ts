// One-request connections (the client said `Connection: close` on its first
// request, which has no body): the router writes that request to the tenant's
// worker over a kept-alive loopback connection from a pool (upstream-pool.ts),
// and copies the response back with `Connection: close`, as nginx does with an
// upstream `keepalive` pool. The worker then pays for no connection of its own,
// and the router for no HTTP parser and no hand-off message: one-request
// traffic was the hand-off's slowest case (each socket passed to a worker waits
// for the worker's acknowledgement of the one before).
//
// The request head was checked strictly already (first-head.ts) and is
// rewritten as the proxy path rewrites it (proxied-heads.ts). The response is
// framed by its own headers (Content-Length, chunked, or until the worker
// closes) only to know when it ends; its bytes are passed on unchanged after a
// rewritten head.
//
// The same exchange serves a trusted front's kept-alive connection (a load
// balancer whose pooled connections carry requests for many tenants), request
// by request: the request's body (Content-Length) follows its head, the
// response keeps the connection open, and the router reads the next head,
// whichever tenant it names.
//
// Every connection costs the router's one process, so each exchange is one
// object: its listeners are functions shared by all, its deadlines are checked
// by one sweep, and no timer is set per request.
import type { Socket } from 'node:net';
import type { AccessEntry } from '../http/access-entry.ts';
import { clientAddress, trustedFront } from '../http/client-address.ts';
import { pathOf } from '../http/access-entry.ts';
import { sweepInterval } from '../http/client-rules.ts';
import { answerAndClose } from '../http/closing-response.ts';
import { SlotList } from '../http/slot-list.ts';
import { responseHead, upstreamHead, type Framing, type OneShotRequest } from './proxied-heads.ts';
import { UpstreamPool, type PoolUser, type PooledConnection } from './upstream-pool.ts';

export type { OneShotRequest } from './proxied-heads.ts';

export interface OneShotOptions {
  /** ms the worker may stay silent; 504 (or a cut response) after. */
  upstreamTimeout: number;
  /** Called once per request, as the proxy path reports a response. */
  finished: (entry: AccessEntry) => void;
}

/** ms a client may take to receive the end of its response: then the router cuts the connection. */
const lingerTimeout = 5000;
/** Bytes of response head at most: a worker that sends more is treated as broken (502). */
const maxResponseHead = 64 * 1024;
/** Bytes of body at most that leave in the same write as the head (one string, one system call). */
const maxJoined = 16 * 1024;

const headEnd = Buffer.from('\r\n\r\n');
const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

/** The exchange a client connection is in, kept on its socket for the shared listeners. */
const exchangeOf = Symbol('one-shot exchange');
type Client = Socket & { [exchangeOf]?: Exchange };

/** Bytes a client sends after its request: dropped, but remembered (a staged close then). */
function clientData(this: Client): void {
  const exchange = this[exchangeOf];
  if (exchange !== undefined) exchange.spoke = true;
}

function uncork(socket: Socket): void {
  socket.uncork();
}

function clientClosed(this: Client): void {
  this[exchangeOf]?.clientClosed();
}

/** Body bytes of a kept-alive connection's request, passed to the worker. */
function clientBody(this: Client, chunk: Buffer): void {
  this[exchangeOf]?.body(chunk);
}

/** A kept-alive connection's request: what comes after its head, and what the router does after its response. */
export interface KeptAlive {
  /** Bytes the client sent past the head (the body's first bytes, or a pipelined request). */
  after: Buffer;
  /** Content-Length of the request's body. */
  contentLength: number;
  /** The response is complete and the connection open: read the next request (`rest`: bytes already read past this one). */
  next: (client: Socket, rest: Buffer) => void;
}

/** One request of a one-request connection, from the client's head to its close. */
class Exchange implements PoolUser {
  /** Where it sits in the one-shot's list of exchanges. */
  slot = -1;
  /** When the worker was last heard from (or asked), ms. */
  since: number;
  /** Once the client has its answer: when it must have taken it, ms; 0 before. */
  lingerUntil = 0;
  status = 0;
  bytes = 0;
  /** Reported (finished): nothing more is counted. */
  over = false;
  /** The response head is on its way to the client. */
  sent = false;
  /** The client sent bytes after its request (it said it would send no other). */
  spoke: boolean;
  /** Response bytes read while its head is incomplete. */
  buffered: Buffer | undefined;
  framing: Framing | undefined;
  upstream: PooledConnection | undefined;
  readonly requestId: string;
  /** Bytes of the request's body still to come from the client (kept-alive connections). */
  bodyRemaining = 0;
  /** Bytes read past this request (a pipelined one), for the next head. */
  rest: Buffer = Buffer.alloc(0);

  constructor(
    readonly shot: OneShot,
    readonly client: Client,
    readonly request: OneShotRequest,
    readonly tenant: string,
    port: number,
    readonly done: () => void,
    readonly started: number,
    trailing: boolean,
    /** A trusted front's kept-alive connection; undefined: a one-request connection. */
    readonly kept: KeptAlive | undefined,
  ) {
    this.since = started;
    this.spoke = trailing;
    const { head, requestId } = upstreamHead(request, clientAddress(client), trustedFront(client));
    this.requestId = requestId;
    const upstream = shot.pool.acquire(port, this);
    this.upstream = upstream;
    if (!kept) {
      upstream.write(head, 'latin1');
      return;
    }
    const first = kept.after.subarray(0, kept.contentLength);
    this.rest = kept.after.subarray(first.length);
    this.bodyRemaining = kept.contentLength - first.length;
    upstream.write(first.length > 0 ? head + first.toString('latin1') : head, 'latin1');
  }

  /** More of a kept-alive request's body from the client: to the worker, up to its length; what follows is the next request's. */
  body(chunk: Buffer): void {
    if (this.bodyRemaining === 0) {
      this.rest = Buffer.concat([this.rest, chunk]);
      return;
    }
    const part = chunk.length > this.bodyRemaining ? chunk.subarray(0, this.bodyRemaining) : chunk;
    this.bodyRemaining -= part.length;
    if (part.length < chunk.length) this.rest = chunk.subarray(part.length);
    if (this.upstream === undefined) return;
    if (!this.upstream.write(part)) {
      this.client.pause();
      this.upstream.once('drain', () => this.client.resume());
    }
    // The whole body is sent: the client is read again after the response.
    if (this.bodyRemaining === 0) this.client.pause();
  }

  /** Reported once: its access line and its count; the worker is free. */
  finish(code: number): void {
    if (this.over) return;
    this.over = true;
    this.done();
    this.shot.options.finished({
      tenant: this.tenant, method: this.request.method, path: pathOf(this.request.target), status: code,
      bytes: this.bytes, durationMs: performance.now() - this.started, requestId: this.requestId, client: clientAddress(this.client),
    });
  }

  /** The pooled connection goes back (or is closed when it cannot carry another request). */
  release(reusable: boolean, now: number): void {
    const upstream = this.upstream;
    if (upstream === undefined) return;
    this.upstream = undefined;
    this.shot.pool.release(upstream, reusable, now);
  }

  fail(code: 502 | 504): void {
    const now = performance.now();
    this.release(false, now);
    if (!this.sent) answerAndClose(this.client, code);
    else this.client.destroy();
    this.linger(now);
    this.finish(code);
  }

  complete(reusable: boolean): void {
    const now = performance.now();
    this.release(reusable, now);
    const kept = this.kept;
    if (kept && this.keepsConnection() && this.bodyRemaining === 0) {
      // The connection carries the next request, whichever tenant it names.
      this.finish(this.status);
      this.shot.forget(this);
      const client = this.client;
      client[exchangeOf] = undefined;
      client.off('close', clientClosed);
      client.off('data', clientBody);
      return kept.next(client, this.rest);
    }
    this.close();
    this.linger(now);
    this.finish(this.status);
  }

  /** Whether the client's connection stays open after this response. */
  keepsConnection(): boolean {
    return this.kept !== undefined && !this.request.close && this.framing?.kind !== 'close';
  }

  /**
   * Closes the client's connection once the response is written, as nginx does
   * after a bodyless request, not after the client's own close. A client that
   * said `Connection: close` sends nothing more (RFC 9112 §9.6): once the whole
   * response is with the kernel, one close() sends it and the FIN (else the
   * close follows the last write). A client that did send more gets a staged
   * close, as nginx's lingering close: the response and a FIN, then its bytes
   * read and dropped until it closes (or lingerTimeout), since a close over
   * unread bytes is a reset that can lose the response.
   */
  close(): void {
    if (this.spoke) this.client.end();
    else if (this.client.writableLength === 0) this.client.destroy();
    else this.client.destroySoon();
  }

  /** The client has lingerTimeout ms to take what is written. */
  linger(now: number): void {
    if (!this.client.destroyed) this.lingerUntil = now + lingerTimeout;
  }

  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (!this.client.write(chunk)) {
      const upstream = this.upstream!;
      upstream.pause();
      this.client.once('drain', () => upstream.resume());
    }
  }

  upstreamData(chunk: Buffer): void {
    this.since = performance.now();
    if (this.framing === undefined) {
      const buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
      const end = buffered.indexOf(headEnd);
      if (end < 0) {
        this.buffered = buffered;
        if (buffered.length > maxResponseHead) this.fail(502);
        return;
      }
      this.buffered = undefined;
      const head = buffered.toString('latin1', 0, end);
      const lineEnd = head.indexOf('\r\n');
      const code = Number(statusLine.exec(lineEnd < 0 ? head : head.slice(0, lineEnd))?.[1] ?? 0);
      const rest = buffered.subarray(end + 4);
      if (code >= 100 && code < 200) {
        // An interim response (103 Early Hints): passed on, byte for byte; the final one follows.
        if (code === 101) return this.fail(502);
        this.client.write(buffered.subarray(0, end + 4));
        if (rest.length > 0) this.upstreamData(rest);
        return;
      }
      const response = code === 0 ? undefined : responseHead(this.request.method, code, head, this.requestId, this.kept !== undefined && !this.request.close);
      if (response === undefined) return this.fail(502);
      const framing = response.framing;
      this.framing = framing;
      this.status = code;
      this.sent = true;
      if (framing.kind === 'none') {
        this.client.write(response.head, 'latin1');
        return this.complete(rest.length === 0);
      }
      if (framing.kind === 'length' && rest.length === framing.remaining && rest.length <= maxJoined) {
        // The usual small response, whole in the worker's first packet: head and
        // body leave in one write, the body's bytes carried as latin1 (one
        // character per byte, so unchanged).
        this.bytes = rest.length;
        this.client.write(response.head + rest.toString('latin1'), 'latin1');
        return this.complete(true);
      }
      if (rest.length === 0) return void this.client.write(response.head, 'latin1');
      // The head and the body's first bytes leave in one write (corked until the end of this turn).
      this.client.cork();
      process.nextTick(uncork, this.client);
      this.client.write(response.head, 'latin1');
      chunk = rest;
    }
    const framing = this.framing;
    if (framing.kind === 'length') {
      if (chunk.length >= framing.remaining) {
        // Bytes past the body would be a second response: the connection is not reused.
        const reusable = chunk.length === framing.remaining;
        this.write(chunk.subarray(0, framing.remaining));
        framing.remaining = 0;
        return this.complete(reusable);
      }
      framing.remaining -= chunk.length;
      return this.write(chunk);
    }
    if (framing.kind === 'chunked') {
      const end = framing.end.scan(chunk);
      if (end === 'invalid') return this.fail(502);
      if (end === undefined) return this.write(chunk);
      this.write(chunk.subarray(0, end));
      return this.complete(end === chunk.length);
    }
    this.write(chunk);
  }

  upstreamClosed(): void {
    // The worker closed: the end of a body framed by the close, else a failure
    // (a request is never sent twice: the worker may have acted on it). The
    // worker keeps idle connections far longer than the pool does, so a
    // pooled one is not closed under a request but by a worker that exits.
    this.upstream = undefined;
    if (this.framing?.kind === 'close') return this.complete(false);
    this.fail(502);
  }

  /** The client's connection closed: the exchange ends (499 unless the response was complete). */
  clientClosed(): void {
    this.shot.forget(this);
    if (this.over) return;
    this.release(false, performance.now());
    this.finish(499);
  }
}

export class OneShot {
  readonly pool = new UpstreamPool();
  readonly options: OneShotOptions;
  /** Exchanges whose client connection is open. */
  readonly #exchanges = new SlotList<Exchange>();
  /**
   * One timer for every deadline (a silent worker, an idle pooled connection, a
   * client that does not close), swept a few times per upstreamTimeout: no timer
   * is set or cleared per request.
   */
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: OneShotOptions) {
    this.options = options;
    this.#schedule();
  }

  set upstreamTimeout(ms: number) {
    this.options.upstreamTimeout = ms;
    this.#schedule();
  }

  #schedule(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = setInterval(() => this.#sweep(), sweepInterval(this.options.upstreamTimeout));
    this.#sweeper.unref();
  }

  #sweep(): void {
    const now = performance.now();
    const exchanges = this.#exchanges.items;
    // Backwards (see SlotList): an exchange may leave the list here.
    for (let i = exchanges.length - 1; i >= 0; i--) {
      const exchange = exchanges[i]!;
      if (exchange.lingerUntil > 0) {
        if (now >= exchange.lingerUntil) exchange.client.destroy();
      } else if (exchange.upstream !== undefined && now - exchange.since >= this.options.upstreamTimeout) {
        exchange.fail(504);
      }
    }
    this.pool.sweep(now);
  }

  /** An exchange whose client closed leaves the list. */
  forget(exchange: Exchange): void {
    this.#exchanges.remove(exchange);
  }

  /**
   * Serves `request`, read from `client` (which said it sends no other), from
   * the worker on `port`; `trailing`: bytes came after the request's head.
   * `done` is called once, when that worker is no longer in use.
   */
  forward(client: Socket, request: OneShotRequest, trailing: boolean, tenant: string, port: number, done: () => void, kept?: KeptAlive): void {
    const exchange = new Exchange(this, client, request, tenant, port, done, performance.now(), trailing, kept);
    this.#exchanges.add(exchange);
    (client as Client)[exchangeOf] = exchange;
    client.on('close', clientClosed);
    if (kept) {
      // The rest of the body, if any, is read and passed on; the next request waits until the response is out.
      if (exchange.bodyRemaining > 0) {
        client.on('data', clientBody);
        client.resume();
      }
      return;
    }
    // Read on (and drop) what the client sends after its request, so that a
    // client that goes first is seen, and one that sends more gets a staged close.
    client.on('data', clientData);
    client.resume();
  }

  /** Closes the idle pooled connections (shutdown). */
  close(): void {
    clearInterval(this.#sweeper);
    this.pool.close();
  }
}
