// The Kysely instance a tenant application receives: a TenantPool whose every
// connection is logged in as the tenant role with search_path pinned at connect.
import { Kysely, PostgresDialect } from 'kysely';
import { TenantPool, type TenantPoolOptions } from './tenant-pool.ts';

export interface TenantDatabase<DB = any> {
  readonly db: Kysely<DB>;
  readonly pool: TenantPool;
}

export function createTenantDatabase<DB = any>(options: TenantPoolOptions): TenantDatabase<DB> {
  const pool = new TenantPool(options);
  // Kysely asks only connect() and end() of a pool; TenantPool gives both.
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool: pool as never }) }), pool };
}
