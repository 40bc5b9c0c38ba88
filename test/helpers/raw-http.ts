// One raw-socket HTTP/1.1 client for the tests that must send what a normal
// client never would (bare LF, chunks past a limit, resets mid-body) or see
// exactly what came back (interim responses, the close, byte-exact bodies).
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names lower case; repeated ones joined with ", ". */
  headers: Record<string, string>;
  /** The head as sent, up to its blank line. */
  head: string;
  body: Buffer;
  /** Interim (1xx) statuses before it. */
  interim: number[];
  /** The body parsed as JSON. */
  json<T = any>(): T;
}

export interface RawOptions {
  localAddress?: string;
  /** Keep this side open after the server's FIN (to see a staged close). */
  allowHalfOpen?: boolean;
}

/** The framed responses in `bytes` (Content-Length, chunked, or to the close when `closed`), and what is left after them. */
export function parseResponses(bytes: Buffer, closed = false, method = 'GET'): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let rest = bytes;
  let interim: number[] = [];
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return { responses, rest };
    const head = rest.toString('latin1', 0, end);
    const lines = head.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const name = line.slice(0, line.indexOf(':')).toLowerCase();
      const value = line.slice(line.indexOf(':') + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const after = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      interim.push(status);
      rest = after;
      continue;
    }
    let body: Buffer;
    let used: number;
    if (method === 'HEAD' || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      used = 0;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let at = 0;
      for (;;) {
        const lineEnd = after.indexOf('\r\n', at);
        if (lineEnd < 0) return { responses, rest };
        const size = parseInt(after.toString('latin1', at, lineEnd), 16);
        if (!(size >= 0)) throw new Error(`a broken chunk size line: ${JSON.stringify(after.toString('latin1', at, lineEnd))}`);
        if (size === 0) {
          // The last chunk, then trailers (if any) up to a blank line.
          const trailerEnd = after.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd < 0) return { responses, rest };
          used = trailerEnd + 4;
          break;
        }
        if (after.length < lineEnd + 2 + size + 2) return { responses, rest };
        chunks.push(after.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(chunks);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (after.length < length) return { responses, rest };
      body = after.subarray(0, length);
      used = length;
    } else {
      if (!closed) return { responses, rest };
      body = after;
      used = after.length;
    }
    responses.push({ status, headers, head, body, interim, json: () => JSON.parse(body.toString('utf8')) });
    interim = [];
    rest = after.subarray(used);
  }
}

/** One client connection: write raw bytes, wait for responses or the close. */
export class RawConnection {
  readonly socket: net.Socket;
  #bytes: Buffer[] = [];
  /** The server closed (or reset) the connection. */
  closed = false;
  /** The server sent its FIN. */
  ended = false;
  /** Socket errors seen (ECONNRESET, EPIPE...). */
  readonly errors: string[] = [];
  readonly #waiters: (() => void)[] = [];
  /** Responses already returned by next(). */
  #taken = 0;

  constructor(port: number, options: RawOptions = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', ...options });
    this.socket.on('data', (d: Buffer) => { this.#bytes.push(d); this.#wake(); });
    this.socket.on('error', (error: NodeJS.ErrnoException) => { this.errors.push(error.code ?? error.message); });
    this.socket.on('end', () => { this.ended = true; this.#wake(); });
    this.socket.on('close', () => { this.closed = true; this.#wake(); });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    if (this.#bytes.length > 1) this.#bytes = [Buffer.concat(this.#bytes)];
    return this.#bytes[0] ?? Buffer.alloc(0);
  }

  get text(): string {
    return this.bytes.toString('latin1');
  }

  async ready(): Promise<this> {
    if (this.socket.connecting) await new Promise((resolve, reject) => this.socket.once('connect', resolve).once('error', reject));
    return this;
  }

  /** Writes `chunks` in turn, `gapMs` apart. */
  async write(chunks: string | Buffer | (string | Buffer)[], gapMs = 0): Promise<void> {
    await this.ready();
    for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) {
      if (this.socket.destroyed || !this.socket.writable) return;
      this.socket.write(chunk);
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    }
  }

  /** Waits until `done()` holds or the connection closed; throws after `timeout` ms. */
  async until(done: () => boolean, timeout = 10_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!done() && !this.closed) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.text.slice(0, 500))}`);
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, 100); });
    }
  }

  /** Every complete response received so far. */
  responses(method = 'GET'): RawResponse[] {
    return parseResponses(this.bytes, this.closed || this.ended, method).responses;
  }

  /** The next response not returned before; throws if the connection closes first. */
  async next(method = 'GET', timeout = 10_000): Promise<RawResponse> {
    await this.until(() => this.responses(method).length > this.#taken, timeout);
    const all = this.responses(method);
    if (all.length <= this.#taken) throw new Error(`the connection closed before response ${this.#taken + 1}; got ${JSON.stringify(this.text.slice(0, 500))}`);
    return all[this.#taken++]!;
  }

  /** Sends `GET path` for `host` and returns its response. */
  async get(host: string, path: string, headers = ''): Promise<RawResponse> {
    await this.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\n`);
    return this.next();
  }

  /** Resolves when the server closed the connection. */
  async closedByServer(timeout = 10_000): Promise<void> {
    await this.until(() => this.closed, timeout);
    if (!this.closed) throw new Error('still open');
  }

  /** Cuts the connection with a reset (a plain close once this side has sent its FIN). */
  reset(): void {
    // A reset after the socket began its shutdown leaves its handle referenced
    // at process exit: Node spins in its cleanup and never exits
    // (https://github.com/libp2p/js-libp2p/pull/3597 isolated the same).
    if (this.socket.writableEnded) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends `chunks` on a new connection and reads until the server closes it. */
export async function exchange(port: number, chunks: string | Buffer | (string | Buffer)[], options: RawOptions & { gapMs?: number; timeout?: number } = {}): Promise<RawConnection> {
  const connection = new RawConnection(port, options);
  await connection.write(chunks, options.gapMs ?? 0);
  await connection.closedByServer(options.timeout ?? 20_000);
  return connection;
}
