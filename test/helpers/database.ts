// A fresh database per test, owned by a fresh admin role that has CREATEROLE
// and nothing more (no superuser), as on a managed PostgreSQL service.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** Admin URL: the CREATEROLE role that owns the database. */
  url: string;
  name: string;
  /** Superuser-ish URL of the fixture server, to look behind tenantd's back. */
  superUrl: string;
  drop(): Promise<void>;
}

export function superUrl(): string {
  const url = process.env.TENANTD_TEST_DATABASE_URL;
  if (!url) throw new Error('TENANTD_TEST_DATABASE_URL is not set: run the tests with npm test');
  return url;
}

export async function query<T extends pg.QueryResultRow = any>(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await client.query<T>(text, values);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const id = randomBytes(4).toString('hex');
  const name = `t${id}`;
  const password = randomBytes(12).toString('hex');
  const su = superUrl();
  await query(su, `create role ${name}_admin login createrole password '${password}'`);
  await query(su, `create database ${name} owner ${name}_admin`);
  const url = new URL(su);
  url.username = `${name}_admin`;
  url.password = password;
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    superUrl: Object.assign(new URL(su), { pathname: `/${name}` }).toString(),
    async drop() {
      await query(su, `drop database if exists ${name} with (force)`);
      // The admin last: it may hold grants on the others. Many at once: a test with thousands of tenants.
      const roles = (await query(su, "select rolname from pg_roles where rolname like $1 and rolname <> $2", [`${name}%`, `${name}_admin`])).rows.map((r) => `"${r.rolname}"`);
      for (let at = 0; at < roles.length; at += 500) await query(su, `drop role if exists ${roles.slice(at, at + 500).join(', ')}`).catch(() => {});
      await query(su, `drop role if exists "${name}_admin"`).catch(() => {});
    },
  };
}
