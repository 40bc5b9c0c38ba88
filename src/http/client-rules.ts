// tenantd's rules for a client's request, in one place for the two paths that
// apply them: the router (a connection's first request, the proxy path, the
// requests it forwards for one-request connections) and a worker (every later
// request on a connection handed to it). Each rule answers with a refusal, and
// one function writes every refusal, so both paths answer alike.
import type http from 'node:http';
import { retryAfterSeconds } from '../base/retry-after.ts';

/** What tenantd names in Allow: the methods an application may serve (TRACE only where a tenant allows it). */
export const allowedMethods = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** A request tenantd answers itself: its status, a short reason for the body, and headers. */
export interface Refusal {
  status: number;
  message: string;
  headers?: http.OutgoingHttpHeaders;
}

/** The limits the rules read (config keys of `router`, and the tenant's `allowTrace`). */
export interface RequestRules {
  /** Bytes of request body at most. */
  bodyLimit: number;
  /** Bytes of one header line (name, colon, value) at most; the request line too. */
  maxHeaderLineSize: number;
}

/**
 * ms between two sweeps that enforce a timeout of `timeout` ms: a quarter of
 * it, at least 10 ms and at most a second (Node's own server checks its
 * headersTimeout once a second at most too). Every deadline tenantd sweeps for
 * (heads, workers' answers, idle workers) uses it.
 */
export function sweepInterval(timeout: number): number {
  return Math.max(10, Math.min(1000, timeout / 4));
}

/**
 * The rules on a parsed head before it is routed: HTTP/1.x, one Host line
 * (RFC 9112 §3.2), no line longer than maxHeaderLineSize (as nginx's
 * large_client_header_buffers: 414 for the request line, 431 for a header).
 */
export function headRefusal(req: http.IncomingMessage, rules: Pick<RequestRules, 'maxHeaderLineSize'>): Refusal | undefined {
  if (req.httpVersionMajor !== 1) return { status: 505, message: 'HTTP version not supported' };
  const limit = rules.maxHeaderLineSize;
  // "METHOD target HTTP/1.1": 11 bytes beside the method and the target.
  if ((req.method?.length ?? 0) + (req.url?.length ?? 0) + 11 > limit) return { status: 414, message: 'request line too long' };
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // "name: value": Node has taken the whitespace around the value off; 2 bytes for ": ".
    if (name.length + raw[i + 1]!.length + 2 > limit) return { status: 431, message: 'a header line is too long' };
    if (name.length === 4 && name.toLowerCase() === 'host') hosts += 1;
  }
  if (hosts > 1) return { status: 400, message: 'more than one Host header' };
  if (hosts === 0) return { status: 400, message: 'missing Host header' };
  return undefined;
}

/**
 * The asterisk-form target (RFC 9112 §3.2.4): `OPTIONS *` asks about the server
 * itself, and tenantd answers it (no tenant's application sees it); any other
 * method with `*` is malformed.
 */
export function asteriskAnswer(method: string | undefined): Refusal {
  return method === 'OPTIONS'
    ? { status: 200, message: 'ok', headers: { allow: allowedMethods } }
    : { status: 400, message: 'the * target is only for OPTIONS' };
}

/**
 * The rules that depend on the tenant: TRACE only where it allows it (405, as
 * nginx answers), and a declared body no longer than the limit (413).
 * `declaredLength`: the Content-Length header's value, if any.
 */
export function tenantRefusal(method: string | undefined, declaredLength: string | number | undefined, rules: Pick<RequestRules, 'bodyLimit'> & { allowTrace: boolean }): Refusal | undefined {
  if (method === 'TRACE' && !rules.allowTrace) return { status: 405, message: 'TRACE is not allowed', headers: { allow: allowedMethods } };
  if (declaredLength !== undefined && Number(declaredLength) > rules.bodyLimit) return { status: 413, message: 'request body too large' };
  return undefined;
}

/**
 * Refusals after which nothing more is read from the connection: the request's
 * framing or head cannot be trusted (400, 414, 431, 505), its body is not read
 * (413), or it took too long (408).
 */
export function closesConnection(status: number): boolean {
  return status === 400 || status === 408 || status === 413 || status === 414 || status === 431 || status === 505;
}

/**
 * Writes a refusal through `res`: `<status> <message>` as plain text, with
 * Retry-After on a 503 and `Connection: close` where closesConnection says.
 * A response already started cannot be replaced: its connection is cut.
 */
export function refuse(res: http.ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status } = refusal;
  const body = status === 200 ? '' : `${status} ${refusal.message}\n`;
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...refusal.headers };
  if (status === 503) headers['retry-after'] = String(retryAfterSeconds);
  if (closesConnection(status)) {
    headers.connection = 'close';
    res.shouldKeepAlive = false;
  }
  res.writeHead(status, headers);
  res.end(body);
}
