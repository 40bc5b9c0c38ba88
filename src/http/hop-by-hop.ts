// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message:
// a proxy removes them, and every header the Connection header names, in both
// directions. Otherwise a client could strip a header the worker relies on by
// naming it in Connection, or hold the router's upstream connection open.
import type { IncomingHttpHeaders } from 'node:http';

const hopByHop = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** The hop-by-hop header names, lower case: for code that reads raw header lines. */
export const hopByHopNames: ReadonlySet<string> = new Set(hopByHop);

/** Removes hop-by-hop headers in place; `keep` names those an upgrade needs. */
export function stripHopByHop(headers: IncomingHttpHeaders, keep: readonly string[] = []): void {
  const connection = headers.connection;
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase();
      if (name && !keep.includes(name)) delete headers[name];
    }
  }
  // Only what is there: a delete turns V8's fast object into a slow dictionary,
  // and this runs on every request.
  for (const name of hopByHop) if (headers[name] !== undefined && !keep.includes(name)) delete headers[name];
}
