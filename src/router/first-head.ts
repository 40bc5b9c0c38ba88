// Reads the first request head of a client connection: just enough to choose
// between handing the connection to a tenant's worker and proxying it. Strict by
// design: anything unusual (another version, a target that is not origin-form,
// a header line Node's parser might read otherwise, two Host lines, framing other
// than one Content-Length or chunked) says `proxy`, and the connection takes the
// proxy path, where Node's parser and the router's passes give every refusal.
// It is not the last word on routing either: the worker checks the Host of every
// request it is given, this first one included (worker/handed-off.ts).

/** What the router needs of the first request. */
export interface FirstHead {
  /** The Host header's value, as sent. */
  host: string;
  /** Content-Length; 0 when absent. */
  contentLength: number;
  /** The client will send no second request: `Connection: close` (HTTP/1.1 has no other way to say so). */
  close: boolean;
  /** A protocol upgrade (WebSocket). */
  upgrade: boolean;
  /** The body is chunked. */
  chunked: boolean;
  method: string;
  /** The request target (origin-form: a path and query). */
  target: string;
  /** Bytes of the head, its blank line included. */
  length: number;
  /** The request line, then each header line, as sent. */
  lines: string[];
  /** Each line's header name, lower case ('' for the request line). */
  names: string[];
  /** Each line's header value, without the whitespace around it ('' for the request line). */
  values: string[];
  /** The options the Connection header(s) name, lower case. */
  connection: string[];
}

export type HeadScan =
  | { kind: 'incomplete' }
  | { kind: 'proxy' }
  | { kind: 'head'; head: FirstHead };

/** A scan that settled the connection's path: a head to route, or the proxy path. */
export type SettledScan = Exclude<HeadScan, { kind: 'incomplete' }>;

const requestLine = /^[A-Z]{1,20} \/[!-~]* HTTP\/1\.1$/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/;
const headEnd = Buffer.from('\r\n\r\n');
const incomplete: HeadScan = { kind: 'incomplete' };
const proxy: HeadScan = { kind: 'proxy' };

/** Space or tab, the whitespace around a header value. */
function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

/** The limits a first head is read within. */
export interface HeadLimits {
  /** Bytes of the whole head at most (the proxy path answers 431 beyond). */
  maxHeaderSize: number;
  /** Bytes of one line at most (the proxy path answers 414 or 431 beyond). */
  maxHeaderLineSize: number;
}

/**
 * A line end that is not CRLF, in what has come of a head: Node's parser
 * refuses it at once (400), so the head goes there rather than wait for a
 * CRLF CRLF that may never come (a client that ends its lines with LF alone
 * would otherwise be held until headersTimeout).
 */
function oddLineEnd(bytes: Buffer): boolean {
  for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) if (i === 0 || bytes[i - 1] !== 13) return true;
  for (let i = bytes.indexOf(13); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(13, i + 1)) if (bytes[i + 1] !== 10) return true;
  return false;
}

/**
 * Scans `bytes` (everything read so far) for a complete first head. `proxy` too
 * when no head ends within maxHeaderSize bytes, when a line is longer than
 * maxHeaderLineSize, or when a line ends otherwise than CRLF: the proxy path
 * gives each its refusal. One pass over the head's lines, none split off into a
 * list first.
 */
export function scanFirstHead(bytes: Buffer, limits: HeadLimits): HeadScan {
  const end = bytes.indexOf(headEnd);
  if (end < 0) return bytes.length >= limits.maxHeaderSize || oddLineEnd(bytes) ? proxy : incomplete;
  if (end + 4 > limits.maxHeaderSize) return proxy;
  const lineLimit = limits.maxHeaderLineSize;
  const text = bytes.toString('latin1', 0, end);
  let lineEnd = text.indexOf('\r\n');
  const first = lineEnd < 0 ? text : text.slice(0, lineEnd);
  if (first.length > lineLimit || !requestLine.test(first)) return proxy;
  const lines = [first];
  const names = [''];
  const values = [''];
  let host: string | undefined;
  let contentLength: number | undefined;
  let chunked = false;
  let close = false;
  let upgrade = false;
  const connection: string[] = [];
  while (lineEnd >= 0) {
    const start = lineEnd + 2;
    lineEnd = text.indexOf('\r\n', start);
    const line = lineEnd < 0 ? text.slice(start) : text.slice(start, lineEnd);
    if (line.length > lineLimit) return proxy;
    const colon = line.indexOf(':');
    if (colon <= 0 || !headerName.test(line.slice(0, colon))) return proxy;
    let from = colon + 1;
    let to = line.length;
    while (from < to && isOws(line.charCodeAt(from))) from++;
    while (to > from && isOws(line.charCodeAt(to - 1))) to--;
    const value = line.slice(from, to);
    if (!headerValue.test(value)) return proxy;
    const name = line.slice(0, colon).toLowerCase();
    lines.push(line);
    names.push(name);
    values.push(value);
    if (name === 'host') {
      if (host !== undefined) return proxy;
      host = value;
    } else if (name === 'content-length') {
      if (contentLength !== undefined || !/^\d{1,15}$/.test(value)) return proxy;
      contentLength = Number(value);
    } else if (name === 'transfer-encoding') {
      if (chunked || value.toLowerCase() !== 'chunked') return proxy;
      chunked = true;
    } else if (name === 'connection') {
      for (const token of value.toLowerCase().split(',')) {
        const option = token.trim();
        if (option === 'close') close = true;
        else if (option === 'upgrade') upgrade = true;
        connection.push(option);
      }
    }
  }
  if (host === undefined || (chunked && contentLength !== undefined)) return proxy;
  const space = first.indexOf(' ');
  const method = first.slice(0, space);
  const target = first.slice(space + 1, first.lastIndexOf(' '));
  return { kind: 'head', head: { length: end + 4, host, contentLength: contentLength ?? 0, close, upgrade, chunked, method, target, lines, names, values, connection } };
}
