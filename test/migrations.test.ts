import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, query } from './helpers/database.ts';
import { writeFiles } from './helpers/service.ts';

// Migration files live in a temporary folder, outside this package: import kysely by URL.
const kysely = import.meta.resolve('kysely');
const schemas = Array.from({ length: 12 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);

function files(url: string, withBroken: boolean): Record<string, string> {
  const tenants = [...schemas, ...(withBroken ? ['broken'] : [])]
    .map((s) => `  - schema: ${s}\n    hosts: [${s}.test]`).join('\n');
  return {
    'package.json': '{ "type": "module" }',
    'tenantd.yaml': `database:\n  url: ${url}\nmigrations:\n  shared: shared\n  tenant: tenant\n  concurrency: 4\ntenants:\n${tenants}\n`,
    'shared/001_trace.ts': `import { sql } from '${kysely}';
export async function up(db) {
  await sql\`create table trace (schema text, started timestamptz, ended timestamptz)\`.execute(db);
}
`,
    // Sleeps so that parallel runs overlap in time; the broken tenant fails after its first statement.
    'tenant/001_items.ts': `import { sql } from '${kysely}';
export async function up(db, ctx) {
  await sql\`create table items (id serial primary key, started timestamptz default clock_timestamp(), ended timestamptz)\`.execute(db);
  await sql\`insert into items default values\`.execute(db);
  await sql\`select pg_sleep(0.3)\`.execute(db);
  if (ctx.schema === 'broken') throw new Error('this migration refuses the broken tenant');
  await sql\`update items set ended = clock_timestamp()\`.execute(db);
}
`,
    'tenant/002_more.ts': `import { sql } from '${kysely}';
export async function up(db) {
  await sql\`alter table items add column note text\`.execute(db);
}
`,
  };
}

test('migrate runs shared then tenant migrations in many schemas; one failing tenant is reported and the others migrate', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, files(db.url, true));
  const result = await runCli(['migrate', '-c', `${dir}/tenantd.yaml`]);
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.match(lines.find((l) => l.startsWith('broken'))!, /FAILED \(migrate 001_items\): this migration refuses the broken tenant/);
  for (const s of schemas) assert.match(lines.find((l) => l.startsWith(`${s} `))!, /applied 001_items, 002_more/, s);
  assert.match(lines.find((l) => l.startsWith('public'))!, /applied 001_trace/);
  assert.equal(lines.at(-1), '14 schemas: 13 ok, 1 failed');
  assert.equal(result.stderr, '');

  for (const s of schemas) {
    const applied = await query(db.superUrl, `select name from ${s}.tenantd_migration order by name`);
    assert.deepEqual(applied.rows.map((r) => r.name), ['001_items', '002_more'], s);
  }
  // The failed migration rolled back as a whole: no table, no migration recorded.
  const broken = await query(db.superUrl, "select table_name from information_schema.tables where table_schema = 'broken' order by 1");
  assert.deepEqual(broken.rows.map((r) => r.table_name), ['tenantd_migration', 'tenantd_migration_lock']);
  assert.equal((await query(db.superUrl, 'select count(*)::int as n from broken.tenantd_migration')).rows[0].n, 0);
});

test('tenant migrations of different schemas run in parallel (the lock is per schema) and a rerun is up to date', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, files(db.url, false));
  const first = await runCli(['migrate', '-c', `${dir}/tenantd.yaml`, '--concurrency', '6']);
  assert.equal(first.code, 0, first.stdout + first.stderr);

  const spans = await query(db.superUrl, schemas.map((s) => `select '${s}' as schema, started, ended from ${s}.items`).join(' union all '));
  const overlapping = spans.rows.filter((a) => spans.rows.some((b) => a !== b && a.started < b.ended && b.started < a.ended));
  assert.ok(overlapping.length >= 2, 'at least two tenants migrated at the same time');

  const again = await runCli(['migrate', '-c', `${dir}/tenantd.yaml`, '--tenant', 't03', '--tenant', 't07']);
  assert.equal(again.code, 0);
  assert.deepEqual(again.stdout.trim().split('\n'), ['public (shared)  up to date', 't03              up to date', 't07              up to date', '3 schemas: 3 ok, 0 failed']);
});

test('migrate refuses an unknown --tenant and a bad --concurrency with one line and no stack trace', async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, files(db.url, false));
  const unknown = await runCli(['migrate', '-c', `${dir}/tenantd.yaml`, '--tenant', 'nobody']);
  assert.equal(unknown.code, 2, 'usage errors exit 2');
  assert.match(unknown.stderr, /^tenantd: TENANTD_USAGE: --tenant nobody: not a tenant in the config/);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
  const bad = await runCli(['migrate', '-c', `${dir}/tenantd.yaml`, '--concurrency', 'lots']);
  assert.equal(bad.code, 2);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});
