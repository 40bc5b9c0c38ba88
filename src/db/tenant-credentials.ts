// What a worker needs to reach its own schema: its tenant role's credentials,
// never the admin's.
import { isSiteSchemaName } from './schema-name.ts';
import { errors } from '../errors.ts';

export interface TenantCredentials {
  /** postgres:// URL logged in as the tenant role (host, port, database, TLS of the admin URL). */
  readonly url: string;
  /** Pinned as search_path at connect. */
  readonly schema: string;
  readonly poolSize: number;
}

/** The admin URL with the tenant role's user and password in place of the admin's. */
export function tenantUrl(adminUrl: string, role: string, password: string): string {
  const url = new URL(adminUrl);
  url.username = encodeURIComponent(role);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** Startup `options` that pin a connection's search_path for its whole life. */
export function pinnedOptions(schema: string, extra: Record<string, string> = {}): string {
  if (!isSiteSchemaName(schema)) throw errors.schemaName(schema);
  const settings = { search_path: schema, ...extra };
  return Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
}
