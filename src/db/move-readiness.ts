// What a database server lacks for online moves (tenants move), as the SQL a
// superuser there runs: wal_level = logical (the source of a move), the admin
// role's REPLICATION (publishing) and pg_create_subscription (subscribing,
// PostgreSQL 16+; before, only a superuser subscribes). `tenantd check` prints
// it for each server given by URL; the embedded servers are set up with it.
import { connectAdmin } from './admin-connection.ts';

export async function moveReadiness(adminUrl: string): Promise<string[]> {
  const c = await connectAdmin(adminUrl, 5000);
  try {
    const row = (await c.query(`select current_user as admin, current_setting('wal_level') as wal, current_setting('server_version_num')::int as version,
      r.rolsuper as super, r.rolreplication as replication,
      case when current_setting('server_version_num')::int >= 160000 then pg_has_role(current_user, 'pg_create_subscription', 'member') else r.rolsuper end as subscribe
      from pg_roles r where r.rolname = current_user`)).rows[0];
    const admin = c.escapeIdentifier(row.admin);
    const missing: string[] = [];
    if (row.wal !== 'logical') missing.push("ALTER SYSTEM SET wal_level = logical; (then restart the server)");
    if (!row.super && !row.replication) missing.push(`ALTER ROLE ${admin} REPLICATION;`);
    if (!row.subscribe) missing.push(row.version >= 160000 ? `GRANT pg_create_subscription TO ${admin};` : 'a subscription needs a superuser before PostgreSQL 16: move with --offline');
    return missing;
  } finally {
    await c.end().catch(() => {});
  }
}
