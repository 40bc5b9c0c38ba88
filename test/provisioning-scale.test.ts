// Provisioning at the scale of thousands of tenants: no grant to a tenant role
// lands on a shared catalog row (PostgreSQL refuses the 2,443rd grant on one
// table: one ACL entry per role in one row that cannot grow past a page), a
// tenant reads the shared tables through its membership of the shared reader
// and writes none, and an install provisioned the earlier way (a grant per
// tenant) is moved to memberships by the next run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { CredentialsSecret } from '../src/db/credentials-secret.ts';
import { provisionSites } from '../src/db/provision-sites.ts';
import { Provisioner } from '../src/db/provisioner.ts';
import { createTestDatabase, query, type TestDatabase } from './helpers/database.ts';

const fixtures = path.resolve(import.meta.dirname, 'fixtures/migrations');
const secret = new CredentialsSecret(['a-test-secret-of-enough-length']);

function site(schema: string) {
  return { schema, name: schema, hosts: [`${schema}.test`], settings: {}, allowTrace: false, min: 0, max: 1 };
}

async function provision(db: TestDatabase, schemas: string[], options: { migrate?: boolean } = {}) {
  const provisioner = new Provisioner({ adminUrl: db.url, connectionLimit: 20 });
  try {
    const sites = schemas.map(site);
    return await provisionSites({
      adminUrl: db.url,
      provisioner,
      sites,
      folders: { shared: path.join(fixtures, 'shared'), tenant: options.migrate ? path.join(fixtures, 'tenant') : path.join(fixtures, 'none') },
      concurrency: 4,
      verifiers: new Map(sites.map((s) => [s.schema, secret.verifier(provisioner.database, provisioner.roleOf(s.schema))])),
    });
  } finally {
    await provisioner.close();
  }
}

/** Runs `sql` logged in as a tenant's role, with the password its workers use. */
async function asTenant(db: TestDatabase, schema: string, sql: string): Promise<{ rows?: unknown[]; code?: string }> {
  const role = `${db.name}_${schema}`;
  const url = new URL(db.url);
  url.username = role;
  url.password = secret.passwords(db.name, role)[0]!;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return { rows: (await client.query(sql)).rows };
  } catch (error) {
    return { code: (error as { code?: string }).code };
  } finally {
    await client.end();
  }
}

/** The roles named in an object's ACL. */
async function aclRoles(db: TestDatabase, acl: string): Promise<string[]> {
  const rows = await query(db.superUrl, `select coalesce(r.rolname, 'PUBLIC') as role from aclexplode((${acl})) a left join pg_roles r on r.oid = a.grantee group by 1 order by 1`);
  return rows.rows.map((r) => r.role);
}

test('2,500 tenants are provisioned with a shared table: each reads it through the shared reader and writes none; no ACL grows per tenant', { timeout: 300_000 }, async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const schemas = Array.from({ length: 2500 }, (_, i) => `t${i}`);
  const result = await provision(db, schemas);
  assert.equal(result.shared.ok, true, result.shared.error);
  assert.deepEqual(result.sites.filter((r) => !r.ok).map((r) => `${r.schema}: ${r.error}`), []);
  assert.equal((await query(db.superUrl, 'select count(*)::int as n from pg_namespace where nspname ~ $1', ['^t[0-9]+$'])).rows[0].n, 2500);
  // The shared table's and the database's privileges name the owner and the shared reader, whatever the number of tenants.
  assert.deepEqual(await aclRoles(db, "select relacl from pg_class where oid = 'public.notices'::regclass"), [`${db.name}__shared`, `${db.name}_admin`]);
  assert.deepEqual(await aclRoles(db, 'select datacl from pg_database where datname = current_database()'), [`${db.name}__shared`, `${db.name}_admin`]);
  for (const schema of ['t0', 't2499']) {
    assert.deepEqual((await asTenant(db, schema, 'select text from public.notices')).rows, [{ text: 'shared notice' }], schema);
    assert.equal((await asTenant(db, schema, "insert into public.notices (text) values ('x')")).code, '42501', schema);
    assert.equal((await asTenant(db, schema, 'select * from public.operator_only')).code, '42501', `${schema}: an ungranted shared table`);
    assert.equal((await asTenant(db, schema, 'select 1 from t1.secrets')).code, '42501', `${schema}: another tenant's schema`);
  }
});

test('an install provisioned with a grant per tenant is moved to memberships by the next run: the grants are revoked, the reads go on', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  assert.equal((await provision(db, ['acme', 'globex'], { migrate: true })).ok, true);
  // What earlier versions set: SELECT on each shared table and CONNECT, granted to each tenant role, and their own fingerprint.
  for (const schema of ['acme', 'globex']) {
    const role = `"${db.name}_${schema}"`;
    await query(db.url, `grant select on public.notices to ${role}`);
    await query(db.url, `grant connect on database "${db.name}" to ${role}`);
  }
  await query(db.url, "update public.tenantd_tenants set provisioned = 'earlier:earlier'");
  assert.ok((await aclRoles(db, "select relacl from pg_class where oid = 'public.notices'::regclass")).includes(`${db.name}_acme`));

  assert.equal((await provision(db, ['acme', 'globex'], { migrate: true })).ok, true);
  assert.deepEqual(await aclRoles(db, "select relacl from pg_class where oid = 'public.notices'::regclass"), [`${db.name}__shared`, `${db.name}_admin`]);
  assert.deepEqual(await aclRoles(db, 'select datacl from pg_database where datname = current_database()'), [`${db.name}__shared`, `${db.name}_admin`]);
  assert.deepEqual((await asTenant(db, 'globex', 'select text from public.notices')).rows, [{ text: 'shared notice' }]);
  assert.deepEqual((await asTenant(db, 'acme', 'select owner from acme.secrets')).rows, [{ owner: 'acme' }]);
});
