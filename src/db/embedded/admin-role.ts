// The embedded cluster's admin: role tenantd (LOGIN CREATEROLE, no superuser)
// owning database tenantd, so that tenantd runs on the embedded server as it
// would on a managed one. Made once, as the superuser.
import pg from 'pg';

export const adminRole = 'tenantd';
export const adminDatabase = 'tenantd';

/** Creates the admin role (with `adminPassword`) and its database, if missing. */
export async function ensureAdminRole(superUrl: string, adminPassword: string): Promise<void> {
  const client = new pg.Client(superUrl);
  await client.connect();
  try {
    const role = await client.query('select 1 from pg_roles where rolname = $1', [adminRole]);
    if (role.rowCount === 0) {
      await client.query(`create role ${adminRole} login createrole password ${client.escapeLiteral(adminPassword)}`);
    }
    const db = await client.query('select 1 from pg_database where datname = $1', [adminDatabase]);
    if (db.rowCount === 0) await client.query(`create database ${adminDatabase} owner ${adminRole}`);
    // What a move between servers needs of the admin (tenants move): replication
    // connections and publications, and subscriptions (PostgreSQL 16+ grants
    // those by a role; before, only a superuser subscribes).
    await client.query(`alter role ${adminRole} replication`);
    const version = Number((await client.query('show server_version_num')).rows[0].server_version_num);
    if (version >= 160000) await client.query(`grant pg_create_subscription to ${adminRole}`);
  } finally {
    await client.end();
  }
}
