// What tenantd tells an application about the client, on either router path:
// X-Forwarded-For appended, -Proto and -Host replaced whatever the client sent,
// and an X-Request-Id kept when well-formed, made otherwise.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

/** X-Forwarded-For: what came before (a proxy's list), then this client's address. */
export function forwardedFor(prior: string | undefined, client: string): string {
  return prior ? `${prior}, ${client}` : client;
}

/** The client's X-Request-Id when it is a plain token; a new one otherwise. */
export function requestIdOf(incoming: string | undefined): string {
  return incoming !== undefined && requestIdPattern.test(incoming) ? incoming : randomUUID();
}

/** Sets X-Forwarded-For/Proto/Host from the connection `req` arrived on. */
export function addForwardedHeaders(req: http.IncomingMessage): void {
  // Node joins repeated X-Forwarded-For lines into one string.
  req.headers['x-forwarded-for'] = forwardedFor(req.headers['x-forwarded-for'] as string | undefined, req.socket.remoteAddress ?? '');
  req.headers['x-forwarded-proto'] = 'http';
  req.headers['x-forwarded-host'] = req.headers.host!;
}

/** The request's id (the client's when well-formed), set on its headers. */
export function assignRequestId(req: http.IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  const requestId = requestIdOf(typeof incoming === 'string' ? incoming : undefined);
  req.headers['x-request-id'] = requestId;
  return requestId;
}

/** The status for an error Node's HTTP parser reports ('clientError'). */
export function clientErrorStatus(error: NodeJS.ErrnoException): 400 | 408 | 431 {
  return error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
}
