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
  /** The request line, then each header line, as sent. */
  lines: string[];
}

export type HeadScan =
  | { kind: 'incomplete' }
  | { kind: 'proxy' }
  | { kind: 'head'; head: FirstHead };

const requestLine = /^[A-Z]{1,20} \/[!-~]* HTTP\/1\.1$/;
const headerLine = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;
const incomplete: HeadScan = { kind: 'incomplete' };
const proxy: HeadScan = { kind: 'proxy' };

/**
 * Scans `bytes` (everything read so far) for a complete first head. `proxy` too
 * when no head ends within `maxHeaderSize` bytes: the proxy path answers 431.
 */
export function scanFirstHead(bytes: Buffer, maxHeaderSize: number): HeadScan {
  const end = bytes.indexOf('\r\n\r\n', 0, 'latin1');
  if (end < 0) return bytes.length >= maxHeaderSize ? proxy : incomplete;
  if (end + 4 > maxHeaderSize) return proxy;
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  if (!requestLine.test(lines[0]!)) return proxy;
  let host: string | undefined;
  let contentLength: number | undefined;
  let chunked = false;
  let close = false;
  let upgrade = false;
  for (let i = 1; i < lines.length; i++) {
    const match = headerLine.exec(lines[i]!);
    if (!match) return proxy;
    const name = match[1]!.toLowerCase();
    const value = match[2]!;
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
      }
    }
  }
  if (host === undefined || (chunked && contentLength !== undefined)) return proxy;
  const space = lines[0]!.indexOf(' ');
  const method = lines[0]!.slice(0, space);
  const target = lines[0]!.slice(space + 1, lines[0]!.lastIndexOf(' '));
  return { kind: 'head', head: { host, contentLength: contentLength ?? 0, close, upgrade, chunked, method, target, lines } };
}
