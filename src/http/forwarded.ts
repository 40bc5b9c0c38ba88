// What tenantd tells an application about the client, on either router path:
// X-Forwarded-For appended, -Proto and -Host replaced whatever the client sent,
// and an X-Request-Id kept when well-formed, made otherwise.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

/** Sets X-Forwarded-For/Proto/Host from the connection `req` arrived on. */
export function addForwardedHeaders(req: http.IncomingMessage): void {
  const client = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  req.headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  req.headers['x-forwarded-proto'] = 'http';
  req.headers['x-forwarded-host'] = req.headers.host!;
}

/** The request's id (the client's when well-formed), set on its headers. */
export function assignRequestId(req: http.IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  const requestId = typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
  req.headers['x-request-id'] = requestId;
  return requestId;
}

/** The status for an error Node's HTTP parser reports ('clientError'). */
export function clientErrorStatus(error: NodeJS.ErrnoException): 400 | 408 | 431 {
  return error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
}
