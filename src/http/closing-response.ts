// A whole HTTP/1.1 response written straight to a socket that no ServerResponse
// owns (a refusal before any parser, a parser error, an answer while the
// application still holds `res`), always with `Connection: close`, and with
// tenantd's one Retry-After on a 503.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { retryAfterSeconds } from '../base/retry-after.ts';

/**
 * The response's bytes: `status` with its reason phrase, `extra` header lines
 * (each ending in CRLF), and, with `body`, a short plain-text body: the status
 * and its reason phrase, or the status and the line given.
 */
export function closingResponse(status: number, options: { extra?: string; body?: boolean | string } = {}): string {
  const reason = http.STATUS_CODES[status];
  const body = options.body ? `${status} ${typeof options.body === 'string' ? options.body : reason}\n` : '';
  const type = options.body ? 'Content-Type: text/plain; charset=utf-8\r\n' : '';
  const retry = status === 503 ? `Retry-After: ${retryAfterSeconds}\r\n` : '';
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${retry}${options.extra ?? ''}${type}Content-Length: ${body.length}\r\n\r\n${body}`;
}

/** Writes a closing response and ends the socket. */
export function answerAndClose(socket: Duplex, status: number, options?: { extra?: string; body?: boolean | string }): void {
  socket.end(closingResponse(status, options));
}
