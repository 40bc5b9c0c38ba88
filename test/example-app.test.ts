// The plain-JavaScript example under examples/notes: `tenantd check` accepts it
// as shipped, and served by tenantd it keeps each tenant's notes apart while
// every tenant reads the shared categories. It imports its helpers from
// 'tenantd' (the package's public API), not from src/.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { runCli } from './helpers/cli.ts';
import { query } from './helpers/database.ts';
import { startService, writeFiles } from './helpers/service.ts';

const example = path.resolve(import.meta.dirname, '../examples/notes');

test('tenantd check accepts the notes example: its config, its app and its four migration files compile', async () => {
  const result = await runCli(['check', '-c', path.join(example, 'tenantd.yaml')]);
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /tenantd\.yaml: ok \(2 tenants, 2 hosts, 2 migrations\)$/m);
});

test('tenantd check fails on a syntax error in a migration of the example, naming the file and line', async (t) => {
  const dir = writeFiles(t, {
    'app.js': readFileSync(path.join(example, 'app.js'), 'utf8').replaceAll("from 'tenantd'", `from ${JSON.stringify(path.resolve(import.meta.dirname, '../src/index.ts'))}`),
    'migrations/tenant/001_notes.js': 'export async function up(db) {\n  await db.schema.createTable(\n}\n',
    'tenantd.yaml': 'app: app.js\ntenants:\n  - schema: alpha\n    hosts: [alpha.test]\n',
  });
  const result = await runCli(['check', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /TENANTD_BUILD_FAILED: cannot compile 001_notes\.js: .*001_notes\.js:3:/);
});

test('the notes example served: each tenant its own notes, the shared categories for all', async (t) => {
  const s = await startService(t, `app: ${path.join(example, 'app.js')}\ntenants:\n  - schema: alpha\n    name: Alpha Ltd\n    hosts: [alpha.test]\n  - schema: beta\n    hosts: [beta.test]\n`);
  assert.deepEqual((await s.get('alpha.test', '/')).json(), { tenant: 'Alpha Ltd', notes: '/api/notes', categories: '/api/categories' });
  assert.deepEqual((await s.get('beta.test', '/api/categories')).json(), ['general', 'ideas', 'todo']);
  const created = await s.send('alpha.test', 'POST', '/api/notes', { text: 'alpha only', category: 'ideas' });
  assert.equal(created.status, 201);
  assert.deepEqual((await s.get('alpha.test', '/api/notes')).json(), [{ id: 1, text: 'alpha only', category: 'ideas' }]);
  assert.deepEqual((await s.get('beta.test', '/api/notes')).json(), []);
  const refused = await s.send('beta.test', 'POST', '/api/notes', { text: 'x', category: 'secret' });
  assert.equal(refused.status, 422);
  assert.deepEqual(refused.json(), { error: 'category: expected one of general, ideas, todo' });
  // A tenant reads the shared table but cannot write it: its role has SELECT only.
  const roles = await query(s.db.url, "select rolname, has_table_privilege(rolname, 'public.categories', 'SELECT') as reads, has_table_privilege(rolname, 'public.categories', 'INSERT') as writes from pg_roles where rolname like '%alpha' or rolname like '%beta' order by rolname");
  assert.equal(roles.rows.length, 2);
  for (const row of roles.rows) assert.deepEqual([row.reads, row.writes], [true, false], row.rolname);
});

