// Backups that restore, with real parts: the demo application serving, writes
// going on, the commands run as a user runs them, databases made and dropped.
// A backup sees every tenant at one instant; a restore into a fresh database
// gives back every write acknowledged before the backup began; one tenant's
// restore into a running service fails no request of the others; bad files
// and wrong targets are refused with nothing changed; a restore killed
// part-way leaves nothing half-made; a clone is its template's data, apart.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bin, runCli } from './helpers/cli.ts';
import { createTestDatabase, query, type TestDatabase } from './helpers/database.ts';
import { eventually, request } from './helpers/http.ts';
import { hammer } from './helpers/load.ts';
import { startServe, type ServeProcess } from './helpers/serve-process.ts';
import { probeApp, tempDir, writeFiles } from './helpers/service.ts';

const demo = (schemas: string[]) => `tenants:\n${schemas.map((s) => `  - schema: ${s}\n    hosts: [${s}.test]\n`).join('')}`;

/** A task through the demo's API; its id. */
async function addTask(s: ServeProcess, schema: string, title: string): Promise<number> {
  const reply = await request(s.port, { host: `${schema}.test`, method: 'POST', path: '/api/tasks', body: JSON.stringify({ title }), headers: { 'content-type': 'application/json' } });
  assert.equal(reply.status, 201, reply.body);
  return reply.json().id as number;
}

async function titles(s: { port: number }, schema: string): Promise<string[]> {
  const reply = await request(s.port, { host: `${schema}.test`, path: '/api/tasks' });
  assert.equal(reply.status, 200, reply.body);
  return (reply.json() as { title: string }[]).map((t) => t.title).sort();
}

/** What a refusal must leave as it was: every schema, every table's rows, the registry, the roles. */
async function everything(db: TestDatabase): Promise<string> {
  const tables = await query(db.superUrl, "select table_schema || '.' || table_name as t from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') order by 1");
  const counts: string[] = [];
  for (const { t } of tables.rows) counts.push(`${t}=${(await query(db.superUrl, `select count(*)::int as n, coalesce(sum(hashtext(x::text)::bigint), 0)::text as s from ${t.split('.').map((p: string) => `"${p}"`).join('.')} x`)).rows.map((r) => `${r.n}:${r.s}`)[0]}`);
  const schemas = await query(db.superUrl, 'select nspname from pg_namespace order by 1');
  const roles = await query(db.superUrl, 'select rolname, rolpassword from pg_authid where rolname like $1 order by 1', [`${db.name}%`]);
  const dbAcl = await query(db.superUrl, 'select datacl::text from pg_database where datname = current_database()');
  return JSON.stringify({ counts, schemas: schemas.rows, roles: roles.rows, dbAcl: dbAcl.rows });
}

test('the restore drill: a backup taken while a writer writes three tenants, the database destroyed, restored into a fresh one: every write acknowledged before the backup is there, and the three tenants are from one instant', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  const secretFile = path.join(dir, 'credentials.secret');
  const schemas = ['acme', 'globex', 'initech'];
  const s = await startServe(t, { yaml: `  secretFile: ${secretFile}\n${demo(schemas)}` });
  // One writer, in turn: acme #i, globex #i, initech #i; each acknowledged before the next.
  const acknowledged: string[] = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) for (const schema of schemas) {
      await addTask(s, schema, `${schema} ${i}`);
      acknowledged.push(`${schema} ${i}`);
    }
  })();
  await eventually(() => (acknowledged.length >= 60 ? true : undefined), 20_000, 'the writer to write');
  const before = [...acknowledged];
  const file = path.join(dir, 'nightly.tdb');
  const backup = await runCli(['backup', file, '-c', s.configFile]);
  await eventually(() => (acknowledged.length >= before.length + 30 ? true : undefined), 20_000, 'more writes after the backup');
  writing = false;
  await writer;
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /^wrote .*nightly\.tdb: 3 tenants and the shared tables, \d+ rows, .*, as of \d{4}-/);

  // The database is destroyed; a new one, the same config pointing at it.
  await s.db.drop();
  const fresh = await createTestDatabase();
  t.after(() => fresh.drop());
  const config = path.join(dir, 'restored.yaml');
  writeFileSync(config, `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${fresh.url}\n  secretFile: ${secretFile}\n${demo(schemas)}`);
  const restore = await runCli(['restore', file, '-c', config]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.match(restore.stdout, /^restored .*nightly\.tdb: 3 tenants and the shared tables/);
  const r = await startServe(t, { yaml: `  secretFile: ${secretFile}\n${demo(schemas)}`, db: fresh });
  const restored = new Map<string, string[]>();
  for (const schema of schemas) restored.set(schema, await titles(r, schema));
  const all = new Set([...restored.values()].flat());
  for (const write of before) assert.ok(all.has(write), `${write}, acknowledged before the backup, is restored`);
  // One instant: a write is in the backup only if every write before it is.
  const inOrder = acknowledged.map((write) => all.has(write));
  const firstMissing = inOrder.indexOf(false);
  assert.ok(firstMissing > 0 && inOrder.slice(firstMissing).every((present) => !present), `the restored writes are a prefix of the order they were acknowledged in (first missing: ${acknowledged[firstMissing]})`);
  assert.match((await request(r.port, { host: 'acme.test', path: '/api/announcements' })).body, /Welcome to tenantd/, 'the shared table came back');
  // New writes after the restore take new ids: the sequences came back too.
  const id = await addTask(r, 'acme', 'after the restore');
  const ids = (await query(fresh.superUrl, 'select max(id)::int as m from acme.tasks where title <> $1', ['after the restore'])).rows[0].m;
  assert.ok(id > ids, `a new task's id ${id} follows the restored ${ids}`);
});

test('one tenant restored into a running service under load on two others: none of their requests fails; the tenant serves its old data, its workers restarted, the replaced data kept until --cleanup', { timeout: 120_000 }, async (t) => {
  const s = await startServe(t, { yaml: demo(['acme', 'globex', 'initech']) });
  for (const title of ['kept 1', 'kept 2']) await addTask(s, 'acme', title);
  const file = path.join(s.dir, 'acme.tdb');
  assert.equal((await runCli(['tenants', 'export', 'acme', file, '-c', s.configFile])).code, 0);
  await addTask(s, 'acme', 'written after the export');
  const status = async () => (await request(s.adminPort, { host: '127.0.0.1', path: '/status' })).json().tenants as { schema: string; workers: { pid: number }[] }[];
  const pids = new Map((await status()).map((x) => [x.schema, x.workers.map((w) => w.pid)]));
  const load = hammer(s.port, ['globex.test', 'initech.test'], '/api/tasks');
  await load.after(50);
  const restore = await runCli(['restore', file, '--tenant', 'acme', '-c', s.configFile]);
  await load.after(50);
  const { failures } = await load.stop();
  assert.equal(restore.code, 0, restore.stderr);
  assert.match(restore.stdout, /^restored acme as of .*; its workers restarted; its replaced data is kept as acme\$replaced\$\d{8}T\d{6} \(restore --cleanup drops it\)\n$/);
  assert.deepEqual(failures, []);
  assert.deepEqual(await titles(s, 'acme'), ['kept 1', 'kept 2']);
  const after = new Map((await status()).map((x) => [x.schema, x.workers.map((w) => w.pid)]));
  assert.notDeepEqual(after.get('acme'), pids.get('acme'), 'acme runs new workers');
  assert.deepEqual(after.get('globex'), pids.get('globex'));
  assert.deepEqual(after.get('initech'), pids.get('initech'));
  const replaced = /kept as (\S+) /.exec(restore.stdout)![1]!;
  assert.deepEqual((await query(s.db.superUrl, `select title from "${replaced}".tasks order by id`)).rows.map((row) => row.title), ['kept 1', 'kept 2', 'written after the export']);
  const cleanup = await runCli(['restore', '--cleanup', '-c', s.configFile]);
  assert.equal(cleanup.stdout, `dropped ${replaced}\n`);
  assert.equal((await query(s.db.superUrl, 'select 1 from pg_namespace where nspname = $1', [replaced])).rowCount, 0);
});

test('bad files and wrong targets are refused in one line, and nothing changes', { timeout: 120_000 }, async (t) => {
  const s = await startServe(t, { yaml: demo(['acme', 'globex']) });
  await addTask(s, 'acme', 'acme data');
  await addTask(s, 'globex', 'globex data');
  const file = path.join(s.dir, 'good.tdb');
  assert.equal((await runCli(['backup', file, '-c', s.configFile])).code, 0);
  const bytes = readFileSync(file);
  const truncated = path.join(s.dir, 'truncated.tdb');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  const flipped = path.join(s.dir, 'flipped.tdb');
  const damaged = Buffer.from(bytes);
  damaged[40] = damaged[40]! ^ 0xff;
  writeFileSync(flipped, damaged);
  const foreign = path.join(s.dir, 'foreign.tdb');
  writeFileSync(foreign, 'PGDMP\u0001\u000e this is some other program\'s file\n'.repeat(20));
  const before = await everything(s.db);
  const refusals: [string[], RegExp, number][] = [
    [['restore', truncated, '--tenant', 'acme'], /^tenantd: TENANTD_BACKUP_INVALID: truncated\.tdb is not a usable tenantd backup: it is truncated or damaged \(no footer at its end\); nothing was changed\n$/, 1],
    [['restore', flipped, '--tenant', 'acme'], /^tenantd: TENANTD_BACKUP_INVALID: flipped\.tdb is not a usable tenantd backup: the data of \w+\.\w+ is damaged \(checksum\); nothing was changed\n$/, 1],
    [['restore', foreign], /^tenantd: TENANTD_BACKUP_INVALID: foreign\.tdb is not a usable tenantd backup: it does not start as a tenantd backup does; nothing was changed\n$/, 1],
    [['restore', file, '--tenant', 'nosuch'], /^tenantd: TENANTD_USAGE: --tenant nosuch: not in .*good\.tdb \(see --help\)\n$/, 2],
    [['restore', file], /^tenantd: TENANTD_DATABASE_NOT_EMPTY: the database is not empty \(2 tenants are registered, acme the first\); restore a whole backup into an empty database, or one tenant with --tenant\n$/, 1],
    [['tenants', 'import', 'globex', file], /^tenantd: TENANTD_SCHEMA_EXISTS: schema globex already exists with tables; import makes a new tenant/, 1],
  ];
  for (const [args, message, code] of refusals) {
    const result = await runCli([...args, '-c', s.configFile]);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
  assert.equal(await everything(s.db), before, 'the catalog and the data are as they were');
});

test('a copy with migrations the application does not have is refused before anything changes', { timeout: 120_000 }, async (t) => {
  const two = { 'm/001_a.mjs': 'export async function up(db) { await db.schema.createTable("a").addColumn("id", "serial", (c) => c.primaryKey()).execute(); }\n', 'm/002_b.mjs': 'export async function up(db) { await db.schema.createTable("b").addColumn("id", "integer").execute(); }\n' };
  const s = await startServe(t, { yaml: `app: ${probeApp}\nmigrations:\n  tenant: m\n${demo(['acme'])}`, files: two });
  const file = path.join(s.dir, 'acme.tdb');
  assert.equal((await runCli(['tenants', 'export', 'acme', file, '-c', s.configFile])).code, 0);
  // The application without its newest migration.
  const older = writeFiles(t, { 'tenantd.yaml': readFileSync(s.configFile, 'utf8'), 'm/001_a.mjs': two['m/001_a.mjs'] });
  const before = await everything(s.db);
  const result = await runCli(['restore', file, '--tenant', 'acme', '-c', path.join(older, 'tenantd.yaml')]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'tenantd: TENANTD_BACKUP_MIGRATIONS: the copy of acme has migrations the application does not: 002_b; restore it with the application that wrote it\n');
  assert.equal(await everything(s.db), before);
});

test('an export from older migrations imports into a new tenant, then the newer migrations run', { timeout: 120_000 }, async (t) => {
  const one = { 'm/001_a.mjs': 'export async function up(db) { await db.schema.createTable("a").addColumn("id", "serial", (c) => c.primaryKey()).addColumn("v", "text").execute(); await db.insertInto("a").values({ v: "seeded" }).execute(); }\n' };
  const s = await startServe(t, { yaml: `app: ${probeApp}\nmigrations:\n  tenant: m\n${demo(['acme'])}`, files: one });
  await query(s.db.superUrl, "insert into acme.a (v) values ('written')");
  const file = path.join(s.dir, 'acme.tdb');
  assert.equal((await runCli(['tenants', 'export', 'acme', file, '-c', s.configFile])).code, 0);
  // A newer application (a second migration) and a new tenant to import into.
  const newer = { ...one, 'm/002_b.mjs': 'export async function up(db) { await db.schema.alterTable("a").addColumn("w", "text", (c) => c.defaultTo("new")).execute(); }\n' };
  writeFileSync(path.join(s.dir, 'm', '002_b.mjs'), newer['m/002_b.mjs']);
  writeFileSync(s.configFile, `${readFileSync(s.configFile, 'utf8')}  - schema: hooli\n    hosts: [hooli.test]\n`);
  const result = await runCli(['tenants', 'import', 'hooli', file, '-c', s.configFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^imported acme of .*acme\.tdb as hooli: 2 rows/);
  assert.deepEqual((await query(s.db.superUrl, 'select v, w from hooli.a order by id')).rows, [{ v: 'seeded', w: 'new' }, { v: 'written', w: 'new' }]);
  const applied = (await query(s.db.superUrl, 'select name from hooli.tenantd_migration order by name')).rows.map((r) => r.name);
  assert.deepEqual(applied, ['001_a', '002_b']);
});

test('a restore killed with -9 part-way leaves nothing half-made: the tenant serves its data, no role changed; a second run succeeds', { timeout: 180_000 }, async (t) => {
  const s = await startServe(t, { yaml: demo(['acme', 'globex']) });
  await addTask(s, 'acme', 'the old data');
  // Enough rows that the copy takes a while.
  await query(s.db.superUrl, "insert into acme.tasks (title) select 'bulk ' || i from generate_series(1, 300000) i");
  const file = path.join(s.dir, 'acme.tdb');
  assert.equal((await runCli(['tenants', 'export', 'acme', file, '-c', s.configFile])).code, 0);
  await query(s.db.superUrl, "delete from acme.tasks where title like 'bulk %'");
  const before = await everything(s.db);
  const child = spawn(process.execPath, [bin, 'restore', file, '--tenant', 'acme', '-c', s.configFile], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Killed once its side schema exists and holds rows: mid-copy.
  await eventually(async () => ((await query(s.db.superUrl, "select 1 from pg_stat_activity where query ilike 'copy %acme$restoring$%from stdin%'")).rowCount! > 0 ? true : undefined), 30_000, 'the copy into the side schema');
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(await titles(s, 'acme'), ['the old data'], 'acme serves its data');
  // What a killed run leaves is a side schema that serves nothing; roles and the database's privileges as they were.
  const after = JSON.parse(await everything(s.db)) as { roles: unknown; dbAcl: unknown };
  const was = JSON.parse(before) as { roles: unknown; dbAcl: unknown };
  assert.deepEqual(after.roles, was.roles);
  assert.deepEqual(after.dbAcl, was.dbAcl);
  const again = await runCli(['restore', file, '--tenant', 'acme', '-c', s.configFile]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await query(s.db.superUrl, "select count(*)::int as n from acme.tasks")).rows[0].n, 300001);
  assert.deepEqual((await query(s.db.superUrl, "select nspname from pg_namespace where nspname like 'acme$restoring$%'")).rows, [], 'the killed run\'s side schema is gone');
});

test('a clone serves its own copy of the template: writes to one do not show in the other; the template\'s role has no privilege on it', { timeout: 120_000 }, async (t) => {
  const s = await startServe(t, { yaml: `tenantsDir: tenants.d\n${demo(['template'])}`, files: { 'tenants.d/README.md': 'tenants\n' } });
  for (const title of ['welcome', 'read the guide']) await addTask(s, 'template', title);
  const clone = await runCli(['tenants', 'clone', 'template', 'signup1', '--host', 'signup1.test', '-c', s.configFile]);
  assert.equal(clone.code, 0, clone.stderr);
  assert.match(clone.stdout, /^cloned template to signup1 \(2 rows, [\d.]+ s\): wrote .*signup1\.yaml; it serves\n$/);
  assert.equal(readFileSync(path.join(s.dir, 'tenants.d', 'signup1.yaml'), 'utf8'), 'schema: signup1\nhosts:\n  - signup1.test\n');
  assert.deepEqual(await titles(s, 'signup1'), ['read the guide', 'welcome']);
  await addTask(s, 'signup1', 'mine');
  await addTask(s, 'template', 'for later signups');
  assert.deepEqual(await titles(s, 'signup1'), ['mine', 'read the guide', 'welcome']);
  assert.deepEqual(await titles(s, 'template'), ['for later signups', 'read the guide', 'welcome']);
  const template = `${s.db.name}_template`;
  const privileges = await query(s.db.superUrl, "select has_schema_privilege($1, 'signup1', 'USAGE') as usage, has_table_privilege($1, 'signup1.tasks', 'SELECT') as read", [template]);
  assert.deepEqual(privileges.rows, [{ usage: false, read: false }]);
  assert.equal((await query(s.db.superUrl, "select nspowner::regrole::text as owner from pg_namespace where nspname = 'signup1'")).rows[0].owner, `${s.db.name}_signup1`);
  // A clone to a name already taken, or from no tenant, is refused.
  assert.equal((await runCli(['tenants', 'clone', 'template', 'signup1', '--host', 'x.test', '-c', s.configFile])).code, 2);
  assert.equal((await runCli(['tenants', 'clone', 'nosuch', 'signup2', '--host', 'signup2.test', '-c', s.configFile])).code, 2);
  assert.ok(!existsSync(path.join(s.dir, 'tenants.d', 'signup2.yaml')));
  // The running service added the one site: a reload of the files finds nothing new.
  const reloaded = await runCli(['reload', '-c', s.configFile]);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  assert.match(reloaded.stdout, /^reloaded: added none; removed none; changed none\n/);
  // With the service stopped, the command clones by itself; the next start serves it.
  s.child.kill('SIGTERM');
  await s.exited;
  const offline = await runCli(['tenants', 'clone', 'template', 'signup3', '--host', 'signup3.test', '-c', s.configFile]);
  assert.equal(offline.code, 0, offline.stderr);
  assert.match(offline.stdout, /wrote .*signup3\.yaml; the service is not running: its next start serves it\n$/);
  assert.equal((await query(s.db.superUrl, 'select count(*)::int as n from signup3.tasks')).rows[0].n, 3);
});
