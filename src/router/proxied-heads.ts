// The heads a one-request connection's exchange writes (one-shot.ts): the
// request head the worker receives, rewritten from the client's lines as the
// proxy path rewrites it (hop-by-hop headers out, X-Forwarded-* and
// X-Request-Id set), and the response head the client receives, with how the
// response's body ends (its framing).
import { forwardedFor, forwardedProto, requestIdOf } from '../http/forwarded.ts';
import { hopByHopNames } from '../http/hop-by-hop.ts';
import { ChunkedBodyEnd } from './chunked-body-end.ts';
import type { FirstHead } from './first-head.ts';

/** The first request of a one-request connection, as first-head.ts read it. */
export type OneShotRequest = Pick<FirstHead, 'lines' | 'names' | 'values' | 'connection' | 'method' | 'target' | 'host' | 'close'>;

/** Response framing: how the body's end is found. */
export type Framing = { kind: 'none' } | { kind: 'length'; remaining: number } | { kind: 'chunked'; end: ChunkedBodyEnd } | { kind: 'close' };

/** The name of a header line, lower case. */
function nameOf(line: string): string {
  return line.slice(0, line.indexOf(':')).trim().toLowerCase();
}

/** The tokens a Connection header's value names, lower case. */
function connectionTokens(value: string, into: Set<string>): void {
  // Most name one token (close, keep-alive): no list to split.
  if (!value.includes(',')) return void into.add(value.trim().toLowerCase());
  for (const token of value.split(',')) into.add(token.trim().toLowerCase());
}

/**
 * The request head the worker receives, in one pass over the client's lines:
 * hop-by-hop headers (and those Connection names) out, X-Forwarded-For
 * appended, X-Forwarded-Proto/-Host set, X-Request-Id kept when a plain token.
 */
export function upstreamHead(request: OneShotRequest, client: string, trusted: boolean): { head: string; requestId: string } {
  const { lines, names, values, connection } = request;
  let prior: string | undefined;
  let proto: string | undefined;
  let incomingId: string | undefined;
  let head = lines[0]!;
  for (let i = 1; i < lines.length; i++) {
    const name = names[i]!;
    if (name === 'x-forwarded-for') {
      prior = prior === undefined ? values[i]! : `${prior}, ${values[i]!}`;
    } else if (name === 'x-request-id') {
      incomingId ??= values[i]!;
    } else if (name === 'x-forwarded-proto') {
      proto ??= values[i]!;
    } else if (name !== 'x-forwarded-host' && !hopByHopNames.has(name) && !connection.includes(name)) {
      head += `\r\n${lines[i]!}`;
    }
  }
  const requestId = requestIdOf(incomingId);
  head += `\r\nx-forwarded-for: ${forwardedFor(prior, client, trusted)}\r\nx-forwarded-proto: ${forwardedProto(trusted ? proto : undefined, false)}\r\nx-forwarded-host: ${request.host}\r\nx-request-id: ${requestId}\r\n\r\n`;
  return { head, requestId };
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
 * but the body's framing, `Connection: close` unless `keepAlive`, X-Request-Id), and how its body
 * ends; undefined when its framing is ambiguous (502). `head` is the worker's,
 * up to the blank line. One pass over its lines, built up as it goes; a second
 * only when its Connection header names a header that is not hop-by-hop.
 */
export function responseHead(method: string, status: number, head: string, requestId: string, keepAlive = false): { head: string; framing: Framing } | undefined {
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
      connectionTokens(line.slice(line.indexOf(':') + 1), tokens);
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
  let framing: Framing;
  if (method === 'HEAD' || status === 204 || status === 304) framing = { kind: 'none' };
  else if (chunked) {
    if (length !== undefined) return undefined;
    framing = { kind: 'chunked', end: new ChunkedBodyEnd() };
  } else framing = length === undefined ? { kind: 'close' } : { kind: 'length', remaining: length };
  // Kept alive (a trusted front's connection) unless the body ends with the connection.
  out += keepAlive && framing.kind !== 'close' ? '\r\n\r\n' : '\r\nconnection: close\r\n\r\n';
  return { head: out, framing };
}
