// The Kysely instance a tenant application receives: a pool whose every
// connection is logged in as the tenant role with search_path pinned at connect.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pinnedOptions, type TenantCredentials } from './tenant-credentials.ts';

export function createTenantDatabase<DB = any>(credentials: TenantCredentials): Kysely<DB> {
  const pool = new pg.Pool({
    connectionString: credentials.url,
    // A SET in a connect hook would be undone by DISCARD ALL or RESET; a startup
    // option holds for the connection's life.
    options: pinnedOptions(credentials.schema),
    max: credentials.poolSize,
    idleTimeoutMillis: 30_000,
  });
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}
