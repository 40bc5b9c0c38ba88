// What a database server has and lacks for online moves (tenants move):
// wal_level = logical (the source of a move), the admin role's REPLICATION
// (publishing) and pg_create_subscription (subscribing, PostgreSQL 16+;
// before, only a superuser subscribes). The move's preflight reads it on both
// ends; `tenantd check` prints what is missing, as the SQL a superuser there
// runs, for each server given by URL. The embedded servers are set up with it.
import type pg from 'pg';
import { connectAdmin } from './admin-connection.ts';

export interface ReplicationRights {
  /** The admin role's name. */
  admin: string;
  walLevel: string;
  version: number;
  /** REPLICATION, or superuser. */
  replication: boolean;
  /** pg_create_subscription (16+), or superuser. */
  subscribe: boolean;
}

export async function readReplicationRights(c: pg.ClientBase): Promise<ReplicationRights> {
  const row = (await c.query(`select current_user as admin, current_setting('wal_level') as wal, current_setting('server_version_num')::int as version,
    r.rolsuper or r.rolreplication as replication,
    case when current_setting('server_version_num')::int >= 160000 then r.rolsuper or pg_has_role(current_user, 'pg_create_subscription', 'member') else r.rolsuper end as subscribe
    from pg_roles r where r.rolname = current_user`)).rows[0];
  return { admin: row.admin, walLevel: row.wal, version: row.version, replication: row.replication, subscribe: row.subscribe };
}

export async function moveReadiness(adminUrl: string): Promise<string[]> {
  const c = await connectAdmin(adminUrl, 5000);
  try {
    const rights = await readReplicationRights(c);
    const admin = c.escapeIdentifier(rights.admin);
    const missing: string[] = [];
    if (rights.walLevel !== 'logical') missing.push('ALTER SYSTEM SET wal_level = logical; (then restart the server)');
    if (!rights.replication) missing.push(`ALTER ROLE ${admin} REPLICATION;`);
    if (!rights.subscribe) missing.push(rights.version >= 160000 ? `GRANT pg_create_subscription TO ${admin};` : 'a subscription needs a superuser before PostgreSQL 16: move with --offline');
    return missing;
  } finally {
    await c.end().catch(() => {});
  }
}
