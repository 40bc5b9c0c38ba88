// One admin connection to the database, for the primary and the commands: a
// server that cannot be reached is one line naming it and the reason
// (TENANTD_DATABASE_UNREACHABLE), never a stack trace.
import pg from 'pg';
import { errors } from '../base/errors.ts';

/** `host:port/database` of a URL, without its credentials. */
export function describeServer(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}/${decodeURIComponent(parsed.pathname.slice(1)) || 'postgres'}`;
}

/** Opens a connection as the admin role; the caller ends it. */
export async function connectAdmin(url: string, timeoutMs = 10_000): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection the server closes later is the caller's to notice on its next query.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new errors.DatabaseUnreachable(describeServer(url), (error as Error).message);
  }
  return client;
}
