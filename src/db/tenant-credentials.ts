// What a worker needs to reach its own schema: its tenant role's credentials,
// never the admin's.
import { isSiteSchemaName } from '../base/schema-name.ts';
import { errors } from '../base/errors.ts';

export interface TenantCredentials {
  /** postgres:// URL of the tenant role, without password (host, port, database, TLS of the admin URL). */
  readonly url: string;
  /** The role's passwords, the current one first (more than one while a secret rotates). */
  readonly passwords: readonly string[];
  /** Pinned as search_path at connect. */
  readonly schema: string;
  /** statement_timeout of every connection, ms (set at connect, as the schema); 0 = none. */
  readonly statementTimeout: number;
  readonly poolSize: number;
  /** ms an idle connection stays open before it goes back to the server. */
  readonly idleTimeout: number;
}

/** The admin URL with the tenant role's user in place of the admin's, and no password. */
export function tenantUrl(adminUrl: string, role: string): string {
  const url = new URL(adminUrl);
  url.username = encodeURIComponent(role);
  url.password = '';
  return url.toString();
}

/** Startup `options` that pin a connection's search_path for its whole life. */
export function pinnedOptions(schema: string, extra: Record<string, string> = {}): string {
  if (!isSiteSchemaName(schema)) throw new errors.SchemaName(schema);
  const settings = { search_path: schema, ...extra };
  return Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
}
