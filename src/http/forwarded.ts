// What tenantd tells an application about the client, on either router path:
// X-Forwarded-For appended, -Proto and -Host replaced whatever the client sent,
// and an X-Request-Id kept when well-formed, made otherwise.
import { randomFillSync } from 'node:crypto';
import type http from 'node:http';
import { clientAddress, trustedFront } from './client-address.ts';

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * X-Forwarded-For: from a trusted front, what came before (its list), then the
 * peer's address; from anyone else, the client's address alone (a list a
 * client wrote itself proves nothing).
 */
export function forwardedFor(prior: string | undefined, client: string, trusted: boolean): string {
  return trusted && prior ? `${prior}, ${client}` : client;
}

const hexDigits = Buffer.from('0123456789abcdef', 'latin1');
/** Random bytes for request ids, refilled when used up (16 per id). */
const entropy = Buffer.alloc(16 * 256);
let entropyAt = entropy.length;
const idBytes = Buffer.alloc(36);

/**
 * A random (version 4) UUID, as randomUUID() makes, but as one flat string:
 * randomUUID() returns a string built by concatenation, which Node's header
 * validation (a regular expression) must flatten first, several times the cost
 * of making it, on every response that carries it.
 */
export function newRequestId(): string {
  if (entropyAt === entropy.length) {
    randomFillSync(entropy);
    entropyAt = 0;
  }
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = entropy[entropyAt + i]!;
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    if (i === 4 || i === 6 || i === 8 || i === 10) idBytes[at++] = 0x2d;
    idBytes[at++] = hexDigits[byte >> 4]!;
    idBytes[at++] = hexDigits[byte & 15]!;
  }
  entropyAt += 16;
  return idBytes.toString('latin1', 0, 36);
}

/** The client's X-Request-Id when it is a plain token; a new one otherwise. */
export function requestIdOf(incoming: string | undefined): string {
  return incoming !== undefined && requestIdPattern.test(incoming) ? incoming : newRequestId();
}

/** Sets X-Forwarded-For/Proto/Host from the connection `req` arrived on (a trusted front's For and Proto kept). */
export function addForwardedHeaders(req: http.IncomingMessage): void {
  const trusted = trustedFront(req.socket);
  // Node joins repeated X-Forwarded-For lines into one string.
  req.headers['x-forwarded-for'] = forwardedFor(req.headers['x-forwarded-for'] as string | undefined, clientAddress(req.socket), trusted);
  req.headers['x-forwarded-proto'] = forwardedProto(trusted ? req.headers['x-forwarded-proto'] as string | undefined : undefined, (req.socket as { encrypted?: boolean }).encrypted === true);
  req.headers['x-forwarded-host'] = req.headers.host!;
}

/** X-Forwarded-Proto: a trusted front's (http or https), else the connection's own scheme. */
export function forwardedProto(prior: string | undefined, encrypted: boolean): string {
  return prior === 'https' || prior === 'http' ? prior : encrypted ? 'https' : 'http';
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
