import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, query } from './helpers/database.ts';
import { writeFiles } from './helpers/service.ts';

const tenants = (...schemas: string[]) => schemas.map((s) => `  - schema: ${s}\n    hosts: [${s}.test]`).join('\n');

test('tenantd --help lists the commands; an unknown command is one line on stderr and a non-zero exit', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  for (const name of ['serve', 'check', 'migrate', 'tenants list', 'tenants drop']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  const migrateHelp = await runCli(['migrate', '--help']);
  assert.match(migrateHelp.stdout, /^usage: tenantd migrate \[-c FILE\] \[--tenant SCHEMA\]\.\.\. \[--concurrency N\]/);
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2, 'usage errors exit 2');
  assert.equal(unknown.stderr, 'tenantd: TENANTD_USAGE: unknown command "frobnicate" (see --help)\n');
  const badFlag = await runCli(['check', '--colour']);
  assert.equal(badFlag.code, 2);
  assert.equal(badFlag.stderr.split('\n').length, 2);
});

test('every command group answers --help with its commands; the group alone is a usage error that shows them', async () => {
  const help = await runCli(['tenants', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: tenantd tenants <command>/);
  for (const name of ['tenants list', 'tenants drop']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  const alone = await runCli(['tenants']);
  assert.equal(alone.code, 2);
  assert.equal(alone.stdout, help.stdout);
  const unknown = await runCli(['tenants', 'frob']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'tenantd: TENANTD_USAGE: unknown command "tenants frob" (see --help)\n');
});

test('serve with the database unreachable says so in one line naming the server, and exits 1', async (t) => {
  const { freePort } = await import('../src/base/free-port.ts');
  const port = await freePort();
  const dir = writeFiles(t, { 'tenantd.yaml': `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndatabase:\n  url: postgres://tenantd:pw@127.0.0.1:${port}/tenantd\ntenants:\n${tenants('acme')}\n` });
  const result = await runCli(['serve', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, `tenantd: TENANTD_DATABASE_UNREACHABLE: cannot connect to 127.0.0.1:${port}/tenantd: connect ECONNREFUSED 127.0.0.1:${port}\n`);
});

test('tenants list shows status and pending migrations; a removed tenant keeps its data until tenants drop --yes', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, { 'tenantd.yaml': `database:\n  url: ${db.url}\ntenants:\n${tenants('acme', 'globex')}\n` });
  const config = path.join(dir, 'tenantd.yaml');

  const before = JSON.parse((await runCli(['tenants', 'list', '--json', '-c', config])).stdout);
  assert.deepEqual(before.map((r: { schema: string; status: string }) => [r.schema, r.status]), [['acme', 'new'], ['globex', 'new']]);

  assert.equal((await runCli(['migrate', '-c', config])).code, 0);
  await query(db.superUrl, "insert into globex.tasks (title) values ('keep me')");
  const migrated = JSON.parse((await runCli(['tenants', 'list', '--json', '-c', config])).stdout);
  assert.deepEqual(migrated, [
    { schema: 'acme', name: 'acme', hosts: ['acme.test'], status: 'active', server: 'default', move: null, leftOn: null, pendingMigrations: [] },
    { schema: 'globex', name: 'globex', hosts: ['globex.test'], status: 'active', server: 'default', move: null, leftOn: null, pendingMigrations: [] },
  ]);

  writeFileSync(config, `database:\n  url: ${db.url}\ntenants:\n${tenants('acme')}\n`);
  const table = await runCli(['tenants', 'list', '-c', config]);
  assert.match(table.stdout, /^globex\s+default\s+removed\s+0\s+globex\.test$/m);
  assert.deepEqual((await query(db.superUrl, 'select title from globex.tasks')).rows, [{ title: 'keep me' }]);

  const inConfig = await runCli(['tenants', 'drop', 'acme', '--yes', '-c', config]);
  assert.equal(inConfig.code, 1);
  assert.match(inConfig.stderr, /TENANTD_TENANT_IN_CONFIG: tenant acme is still in the config/);
  const unconfirmed = await runCli(['tenants', 'drop', 'globex', '-c', config]);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /add --yes/);
  assert.equal((await query(db.superUrl, "select 1 from pg_namespace where nspname = 'globex'")).rowCount, 1);

  const dropped = await runCli(['tenants', 'drop', 'globex', '--yes', '-c', config]);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.equal((await query(db.superUrl, "select 1 from pg_namespace where nspname = 'globex'")).rowCount, 0);
  assert.equal((await query(db.superUrl, 'select 1 from pg_roles where rolname = $1', [`${db.name}_globex`])).rowCount, 0);
  assert.deepEqual(JSON.parse((await runCli(['tenants', 'list', '--json', '-c', config])).stdout).map((r: { schema: string }) => r.schema), ['acme']);
  const again = await runCli(['tenants', 'drop', 'globex', '--yes', '-c', config]);
  assert.match(again.stderr, /TENANTD_TENANT_UNKNOWN/);
});

test('the admin role needs no superuser: provisioning works with CREATEROLE and database ownership alone', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const admin = await query(db.superUrl, 'select rolsuper, rolcreaterole from pg_roles where rolname = $1', [decodeURIComponent(new URL(db.url).username)]);
  assert.deepEqual(admin.rows, [{ rolsuper: false, rolcreaterole: true }]);
  const dir = writeFiles(t, { 'tenantd.yaml': `database:\n  url: ${db.url}\ntenants:\n${tenants('acme')}\n` });
  const result = await runCli(['migrate', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const owner = await query(db.superUrl, "select nspowner::regrole::text as owner from pg_namespace where nspname = 'acme'");
  assert.deepEqual(owner.rows, [{ owner: `${db.name}_acme` }]);
  const tables = await query(db.superUrl, "select tableowner from pg_tables where schemaname = 'acme' and tablename = 'tasks'");
  assert.deepEqual(tables.rows, [{ tableowner: `${db.name}_acme` }]);
});

test('status names what is wrong with the admin API in one line: no service there, or a token it refuses', async (t) => {
  const { freePort } = await import('./helpers/serve-process.ts');
  const { probeApp, startService } = await import('./helpers/service.ts');
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const nobody = writeFiles(t, { 'tenantd.yaml': `admin: 127.0.0.1:${await freePort()}\ndatabase:\n  url: ${db.url}\ntenants:\n${tenants('acme')}\n` });
  const unreachable = await runCli(['status', '-c', path.join(nobody, 'tenantd.yaml')]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^tenantd: TENANTD_SERVICE_UNREACHABLE: cannot reach the running service's admin API at 127\.0\.0\.1:\d+: ECONNREFUSED; is tenantd serve running with this config\?\n$/);

  const s = await startService(t, `adminToken: a-long-enough-admin-token-1234\napp: ${probeApp}\ntenants:\n${tenants('acme')}\n`);
  const noToken = writeFiles(t, { 'tenantd.yaml': `admin: 127.0.0.1:${s.service.adminAddress.port}\ndatabase:\n  url: ${db.url}\ntenants:\n${tenants('acme')}\n` });
  const refused = await runCli(['status', '-c', path.join(noToken, 'tenantd.yaml')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^tenantd: TENANTD_ADMIN_UNAUTHORIZED: the admin API at 127\.0\.0\.1:\d+ refused the request: set TENANTD_ADMIN_TOKEN/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
});

test('a database that cannot be reached: one line naming the server and the reason, no password, exit 1', async (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': `tenants:\n${tenants('acme')}\n` });
  // A port nothing listens on (the reserved port 1 on loopback refuses at once).
  const result = await runCli(['tenants', 'list', '-c', path.join(dir, 'tenantd.yaml')], { TENANTD_DATABASE_URL: 'postgres://ops:pa55word-x@127.0.0.1:1/fleet' });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^tenantd: TENANTD_DATABASE_UNREACHABLE: cannot connect to 127\.0\.0\.1:1\/fleet: .*ECONNREFUSED.*\n$/);
  assert.ok(!result.stderr.includes('pa55word-x'));
});

test('a role of the tenant\'s name that tenantd did not create is never taken over: TENANTD_ROLE_FOREIGN, that tenant only', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  // Someone else's role, with the name tenantd would give globex's role.
  await query(db.url, `create role ${db.name}_globex nologin`);
  const dir = writeFiles(t, { 'tenantd.yaml': `database:\n  url: ${db.url}\ntenants:\n${tenants('acme', 'globex')}\n` });
  const result = await runCli(['migrate', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 1);
  assert.match(result.stdout + result.stderr, /globex.*TENANTD_ROLE_FOREIGN: role \S*globex exists but was not created by this tenantd database; choose another database\.rolePrefix/);
  assert.match(result.stdout, /acme/);
  // acme was provisioned; the foreign role is untouched (still no login, no schema).
  const schemas = await query(db.url, "select nspname from pg_namespace where nspname in ('acme', 'globex') order by 1");
  assert.deepEqual(schemas.rows.map((r) => r.nspname), ['acme']);
  const role = await query(db.url, 'select rolcanlogin from pg_roles where rolname = $1', [`${db.name}_globex`]);
  assert.equal(role.rows[0].rolcanlogin, false);
});

test('with several database servers, check says for each one given by URL what online moves still need there, as the SQL to run', async (t) => {
  const [one, two] = [await createTestDatabase(), await createTestDatabase()];
  t.after(async () => {
    await one.drop();
    await two.drop();
  });
  const dir = writeFiles(t, { 'tenantd.yaml': `database:\n  url: ${one.url}\ndatabases:\n  eu2:\n    url: ${two.url}\ntenants:\n${tenants('acme')}\n` });
  const result = await runCli(['check', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 0, result.stderr);
  const admin = new URL(two.url).username;
  assert.match(result.stdout, new RegExp(`^database eu2: online moves \\(tenants move\\) need, as a superuser there: ALTER ROLE "${admin}" REPLICATION; GRANT pg_create_subscription TO "${admin}";\\n`, 'm'));
  await query(two.superUrl, `alter role "${admin}" replication`);
  await query(two.superUrl, `grant pg_create_subscription to "${admin}"`);
  const after = await runCli(['check', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.match(after.stdout, /^database eu2: ready for online moves$/m);
  assert.match(after.stdout, /^database default: online moves/m);
});
