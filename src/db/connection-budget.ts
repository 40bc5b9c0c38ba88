// How many database connections tenantd's workers may hold together: the
// configured database.maxConnections, or a safe share of what the server allows
// (max_connections less the superuser reserve, less room for the primary, the
// commands and a second node, times 0.8).
import { connectAdmin } from './admin-connection.ts';

/** Connections kept out of the budget for the primary, commands and monitoring. */
const reserved = 10;
/** The share of the rest that workers may hold by default. */
const share = 0.8;

export interface ServerConnections {
  /** The server's max_connections. */
  server: number;
  /** The workers' default share of it: the budget when database.maxConnections is not set. */
  share: number;
}

export async function readServerConnections(adminUrl: string): Promise<ServerConnections> {
  const client = await connectAdmin(adminUrl);
  try {
    const rows = (await client.query("select current_setting('max_connections')::int as max, current_setting('superuser_reserved_connections')::int as su")).rows[0] as { max: number; su: number };
    return { server: rows.max, share: Math.max(1, Math.floor((rows.max - rows.su - reserved) * share)) };
  } finally {
    await client.end().catch(() => {});
  }
}
