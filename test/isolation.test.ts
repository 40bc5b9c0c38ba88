import assert from 'node:assert/strict';
import { test } from 'node:test';
import { query } from './helpers/database.ts';
import { startService, twoProbeTenants, type RunningService } from './helpers/service.ts';

const config = twoProbeTenants;

interface Outcome { rows?: Record<string, unknown>[]; error?: string; code?: string }

async function run(s: RunningService, host: string, ...sql: string[]): Promise<Outcome[]> {
  const reply = await s.send(host, 'POST', '/sql', { sql });
  assert.equal(reply.status, 200, reply.body);
  return reply.json();
}

async function runOne(s: RunningService, host: string, sql: string): Promise<Outcome> {
  return (await run(s, host, sql))[0]!;
}

test('a tenant application reads its own schema and the granted shared tables', async (t) => {
  const s = await startService(t, config);
  assert.deepEqual((await runOne(s, 'acme.test', 'select owner from secrets')).rows, [{ owner: 'acme' }]);
  assert.deepEqual((await runOne(s, 'globex.test', 'select owner from secrets')).rows, [{ owner: 'globex' }]);
  assert.deepEqual((await runOne(s, 'acme.test', 'select text from public.notices')).rows, [{ text: 'shared notice' }]);
  const [who] = (await runOne(s, 'acme.test', 'select current_user as u, session_user as s')).rows!;
  assert.equal(who!.u, `${s.db.name}_acme`);
  assert.equal(who!.s, `${s.db.name}_acme`);
});

test("a tenant application cannot read another tenant's schema, by qualified name or by SET search_path", async (t) => {
  const s = await startService(t, config);
  assert.equal((await runOne(s, 'acme.test', 'select * from globex.secrets')).code, '42501');
  // PostgreSQL skips a search_path schema the role has no USAGE on: the table is
  // not even visible (42P01), and a qualified name is refused (42501).
  const [set, read, qualified] = await run(s, 'acme.test', 'set search_path = globex, public', 'select * from secrets', 'select * from globex.secrets');
  assert.equal(set!.error, undefined);
  assert.equal(read!.code, '42P01');
  assert.equal(qualified!.code, '42501');
  assert.equal((await runOne(s, 'globex.test', 'delete from acme.secrets')).code, '42501');
  assert.equal((await runOne(s, 'globex.test', 'drop table acme.secrets')).code, '42501');
  const left = await query(s.db.superUrl, 'select owner from acme.secrets');
  assert.deepEqual(left.rows, [{ owner: 'acme' }]);
});

test('a tenant application cannot write public, read ungranted shared tables, create schemas or become another role', async (t) => {
  const s = await startService(t, config);
  const admin = decodeURIComponent(new URL(s.db.url).username);
  const refusals = [
    "insert into public.notices (text) values ('defaced')",
    'create table public.mine (id int)',
    'select * from public.operator_only',
    'select * from public.tenantd_tenants',
    'create schema intruder',
    `set role ${s.db.name}_globex`,
    `set role ${admin}`,
    `set session authorization ${admin}`,
  ];
  for (const sql of refusals) {
    assert.equal((await runOne(s, 'acme.test', sql)).code, '42501', sql);
  }
  assert.deepEqual((await query(s.db.superUrl, 'select text from public.notices')).rows, [{ text: 'shared notice' }]);
  assert.equal((await query(s.db.superUrl, "select 1 from pg_namespace where nspname = 'intruder'")).rowCount, 0);
});

test('the schema stays pinned through RESET and DISCARD ALL', async (t) => {
  const s = await startService(t, config);
  const outcomes = await run(s, 'acme.test', 'reset search_path', 'show search_path', 'discard all', 'show search_path', 'reset all', 'select owner from secrets');
  assert.deepEqual(outcomes[1]!.rows, [{ search_path: 'acme' }]);
  assert.deepEqual(outcomes[3]!.rows, [{ search_path: 'acme' }]);
  assert.deepEqual(outcomes[5]!.rows, [{ owner: 'acme' }]);
});

test('tenant roles are plain login roles, members of the shared reader only, and workers never see the admin credentials', async (t) => {
  const s = await startService(t, config);
  const roles = await query(s.db.superUrl, `select rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
    from pg_roles where rolname in ($1, $2) order by rolname`, [`${s.db.name}_acme`, `${s.db.name}_globex`]);
  assert.equal(roles.rowCount, 2);
  for (const r of roles.rows) {
    assert.deepEqual([r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls], [false, false, false, false], r.rolname);
  }
  // What a tenant role inherits is the shared reader's SELECT on shared tables
  // and CONNECT, and it may not become the shared reader (SET false).
  const memberships = await query(s.db.superUrl, `select m.rolname as member, r.rolname as role, a.inherit_option, a.set_option
    from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
    where m.rolname in ($1, $2) order by 1, 2`, [`${s.db.name}_acme`, `${s.db.name}_globex`]);
  assert.deepEqual(memberships.rows, [
    { member: `${s.db.name}_acme`, role: `${s.db.name}__shared`, inherit_option: true, set_option: false },
    { member: `${s.db.name}_globex`, role: `${s.db.name}__shared`, inherit_option: true, set_option: false },
  ]);
  const adminUrl = new URL(s.db.url);
  const seen = JSON.stringify((await s.get('acme.test', '/env')).json());
  assert.ok(!seen.includes(adminUrl.password), 'the admin password is not in a worker');
  assert.ok(!seen.includes(decodeURIComponent(adminUrl.username)), 'the admin role is not in a worker');
  assert.ok(!seen.includes('TENANTD_DATABASE_URL'));
});

test('a tenant application cannot read files, secrets of roles, or signal other sessions, and cannot write another schema', async (t) => {
  const s = await startService(t, config);
  const refusals: [string, string][] = [
    ["select pg_read_file('/etc/passwd')", '42501'],
    ["select pg_ls_dir('.')", '42501'],
    ["select lo_import('/etc/passwd')", '42501'],
    ["copy (select 1) to program 'id'", '42501'],
    ["copy secrets to '/tmp/leak.csv'", '42501'],
    ['select rolpassword from pg_authid', '42501'],
    ['select passwd from pg_shadow', '42501'],
    [`alter role ${s.db.name}_globex password 'owned'`, '42501'],
    [`set role ${s.db.name}__shared`, '42501'],
    ["insert into globex.secrets (owner) values ('acme was here')", '42501'],
    ['create table globex.planted (id int)', '42501'],
    ['alter table globex.secrets add column x int', '42501'],
    ['create database stolen', '42501'],
    ['create role sidekick', '42501'],
  ];
  for (const [sql, code] of refusals) {
    assert.equal((await runOne(s, 'acme.test', sql)).code, code, sql);
  }
  // Catalog side doors: planner statistics hold sample values of columns.
  await query(s.db.superUrl, 'analyze globex.secrets');
  assert.equal((await runOne(s, 'acme.test', 'select * from pg_catalog.pg_statistic')).code, '42501');
  assert.deepEqual((await runOne(s, 'acme.test', "select most_common_vals from pg_stats where schemaname = 'globex'")).rows, []);
  const globexBackend = (await runOne(s, 'globex.test', 'select pg_backend_pid() as pid')).rows![0]!.pid;
  const signal = await runOne(s, 'acme.test', `select pg_terminate_backend(${globexBackend})`);
  assert.equal(signal.code, '42501');
  // Nothing changed: globex's rows, columns and tables, the roles and databases.
  assert.deepEqual((await query(s.db.superUrl, 'select owner from globex.secrets')).rows, [{ owner: 'globex' }]);
  const columns = await query(s.db.superUrl, "select column_name from information_schema.columns where table_schema = 'globex' and table_name = 'secrets' order by 1");
  assert.deepEqual(columns.rows.map((r) => r.column_name), ['id', 'owner']);
  assert.equal((await query(s.db.superUrl, "select 1 from pg_tables where schemaname = 'globex' and tablename = 'planted'")).rowCount, 0);
  assert.equal((await query(s.db.superUrl, "select 1 from pg_roles where rolname = 'sidekick'")).rowCount, 0);
  assert.equal((await query(s.db.superUrl, "select 1 from pg_database where datname = 'stolen'")).rowCount, 0);
  const verifier = await query(s.db.superUrl, 'select rolpassword from pg_authid where rolname = $1', [`${s.db.name}_globex`]);
  // A SCRAM verifier, never the password (16 rounds: the password is 256 random bits; scram-verifier.ts).
  assert.match(verifier.rows[0].rolpassword, /^SCRAM-SHA-256\$16:/);
  assert.equal((await runOne(s, 'globex.test', 'select 1 as ok')).rows![0]!.ok, 1, "globex's password still works");
});

test('a tenant cannot exhaust the server: a connection limit per role and a default statement_timeout', async (t) => {
  const s = await startService(t, config, { database: '  poolSize: 5\n  connectionLimit: 2\n  statementTimeout: 300ms\n' });
  const outcomes = (await s.send('acme.test', 'POST', '/parallel', { sql: 'select pg_sleep(1)', n: 5 })).json() as { ok?: boolean; code?: string; unavailable?: boolean }[];
  const codes = outcomes.map((o) => o.code ?? 'ok');
  // The refusals reach the app as the typed error a request answers with 503.
  assert.deepEqual(outcomes.filter((o) => o.code === '53300').map((o) => o.unavailable), [true, true, true]);
  // Two connections at most: the others are refused (53300); the ones that ran hit the timeout (57014).
  assert.equal(codes.filter((c) => c === '53300').length, 3, codes.join(' '));
  assert.equal(codes.filter((c) => c === '57014').length, 2, codes.join(' '));
  const limits = await query(s.db.superUrl, 'select rolconnlimit from pg_roles where rolname = $1', [`${s.db.name}_acme`]);
  assert.deepEqual(limits.rows, [{ rolconnlimit: 2 }]);
});

test('only the roles that need it may connect to the database', async (t) => {
  const s = await startService(t, config);
  const outsider = `${s.db.name}_outsider`;
  await query(s.db.superUrl, `create role ${outsider} login password 'outsider-pw'`);
  const url = new URL(s.db.url);
  url.username = outsider;
  url.password = 'outsider-pw';
  await assert.rejects(query(url.toString(), 'select 1'), (error: { code?: string }) => error.code === '42501');
  // CONNECT is the owner's and the shared reader's: a tenant role connects as its
  // member, and the database's one catalog row does not grow with the tenants.
  const granted = await query(s.db.superUrl, `select r.rolname from pg_database d, aclexplode(d.datacl) a join pg_roles r on r.oid = a.grantee
    where d.datname = current_database() and a.privilege_type = 'CONNECT' order by 1`);
  assert.deepEqual(granted.rows.map((r) => r.rolname), [`${s.db.name}__shared`, `${s.db.name}_admin`]);
  assert.equal((await runOne(s, 'acme.test', 'select 1 as ok')).rows![0]!.ok, 1, 'a tenant role connects');
});
