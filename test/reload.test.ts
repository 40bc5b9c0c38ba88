import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { query } from './helpers/database.ts';
import { request } from './helpers/http.ts';
import { hammer } from './helpers/load.ts';
import { probeApp, startService } from './helpers/service.ts';

const tenant = (schema: string, settings = '{}') => `  - schema: ${schema}\n    hosts: [${schema}.test]\n    settings: ${settings}\n`;
const head = (url: string) => `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${url}\napp: ${probeApp}\ntenants:\n`;

test('a reload adds, removes and changes tenants while clients hammer the others, and no request fails', async (t) => {
  const s = await startService(t, `app: ${probeApp}\ntenants:\n${tenant('acme')}${tenant('globex', '{ colour: red }')}${tenant('initech')}`);
  const pid = async (host: string) => (await s.get(host, '/whoami')).json().pid as number;
  const acmePid = await pid('acme.test');
  const globexPid = await pid('globex.test');
  await s.send('initech.test', 'POST', '/sql', { sql: ["insert into secrets (owner) values ('initech, kept')"] });

  const load = hammer(s.port, ['acme.test', 'globex.test']);
  await load.after(50);
  writeFileSync(s.configFile, head(s.db.url) + tenant('acme') + tenant('globex', '{ colour: blue }') + tenant('hooli'));
  const result = await s.service.reload();
  const removedAtOnce = await s.get('initech.test', '/whoami');
  await load.after(50);
  const { ok, failures } = await load.stop();

  assert.deepEqual(result, { ok: true, added: ['hooli'], removed: ['initech'], changed: ['globex'], unchanged: ['acme'], failed: [], restartRequired: [] });
  assert.deepEqual(failures, []);
  assert.ok(ok >= 100, `requests flowed during the reload (${ok})`);
  assert.equal(removedAtOnce.status, 404);
  assert.equal(await pid('acme.test'), acmePid, 'an unchanged tenant keeps its workers');
  const globex = (await s.get('globex.test', '/whoami')).json();
  assert.notEqual(globex.pid, globexPid, 'a changed tenant gets new workers');
  assert.deepEqual(globex.settings, { colour: 'blue' });
  assert.equal((await s.get('hooli.test', '/whoami')).json().schema, 'hooli');
  assert.deepEqual((await s.send('hooli.test', 'POST', '/sql', { sql: ['select owner from secrets'] })).json()[0].rows, [{ owner: 'hooli' }]);

  // The removed tenant's data and registry row stay; its workers are gone.
  const kept = await query(s.db.superUrl, 'select owner from initech.secrets order by id');
  assert.deepEqual(kept.rows.map((r) => r.owner), ['initech', 'initech, kept']);
  const registry = await query(s.db.superUrl, 'select schema, in_config from public.tenantd_tenants order by schema');
  assert.deepEqual(registry.rows, [
    { schema: 'acme', in_config: true }, { schema: 'globex', in_config: true }, { schema: 'hooli', in_config: true }, { schema: 'initech', in_config: false },
  ]);
  assert.deepEqual(s.service.status().map((x) => x.schema).sort(), ['acme', 'globex', 'hooli']);
});

test('a rejected reload leaves the running config untouched and says why', async (t) => {
  const s = await startService(t, `app: ${probeApp}\ntenants:\n${tenant('acme')}`);
  const before = (await s.get('acme.test', '/whoami')).json().pid;
  writeFileSync(s.configFile, `${head(s.db.url)}${tenant('acme')}  - schema: Bad-Name\n    hosts: [bad.test]\n`);
  const result = await s.service.reload();
  assert.equal(result.ok, false);
  assert.match((result as { error: string }).error, /tenants\[1\]\.schema at tenantd\.yaml:\d+ — "Bad-Name" is not a tenant schema name/);
  assert.equal((await s.get('acme.test', '/whoami')).json().pid, before);
  assert.equal((await s.get('bad.test', '/whoami')).status, 404);

  const admin = await request(s.service.adminAddress.port, { host: '127.0.0.1', method: 'POST', path: '/reload' });
  assert.equal(admin.status, 422);
  assert.equal(admin.json().ok, false);
  assert.equal(admin.json().code, 'TENANTD_CONFIG_INVALID');
  assert.equal((result as { code: string }).code, 'TENANTD_CONFIG_INVALID');
});

test('a changed tenant whose new workers cannot start keeps its old ones', async (t) => {
  const s = await startService(t, `app: ${probeApp}\ntenants:\n${tenant('acme')}\nworkers:\n  startTimeout: 20s\n`);
  const before = (await s.get('acme.test', '/whoami')).json().pid;
  writeFileSync(s.configFile, `${head(s.db.url)}${tenant('acme', '{ failStart: true }')}`);
  const result = await s.service.reload();
  assert.equal(result.ok, true);
  assert.deepEqual((result as { failed: { schema: string }[] }).failed.map((f) => f.schema), ['acme']);
  const after = (await s.get('acme.test', '/whoami')).json();
  assert.equal(after.pid, before);
  assert.deepEqual(after.settings, {});
});

test('a tenant added in tenantsDir is served after a reload', async (t) => {
  const s = await startService(t, `app: ${probeApp}\ntenantsDir: tenants.d\ntenants:\n${tenant('acme')}`, { files: { 'tenants.d/.keep': '' } });
  assert.equal((await s.get('newco.test', '/whoami')).status, 404);
  writeFileSync(`${s.dir}/tenants.d/newco.yaml`, 'schema: newco\nhosts: [newco.test]\n');
  const result = await s.service.reload();
  assert.deepEqual((result as { added: string[] }).added, ['newco']);
  assert.equal((await s.get('newco.test', '/whoami')).json().schema, 'newco');
});

test('a reload that changes log.level applies it to the router too', async (t) => {
  const lines: { msg: string }[] = [];
  const sink = new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const s = await startService(t, `app: ${probeApp}\ntenants:\n${tenant('acme')}`, { log: pino({ level: 'info' }, sink), handoff: false, accessLog: true });
  const accessLines = () => lines.filter((l) => l.msg === 'request').length;
  await s.get('acme.test', '/whoami');
  assert.equal(accessLines(), 1);
  writeFileSync(s.configFile, `${head(s.db.url).replace('app:', 'log:\n  level: warn\nrouter:\n  handoff: false\napp:')}${tenant('acme')}`);
  assert.equal((await s.service.reload()).ok, true);
  await s.get('acme.test', '/whoami');
  assert.equal(accessLines(), 1, 'no access line at level warn');
});

test('a tenant that could not be provisioned at start is tried again by the next reload', async (t) => {
  const s = await startService(t, `app: ${probeApp}\nmigrations:\n  tenant: tenant-migrations\ntenants:\n${tenant('acme')}${tenant('globex')}`, {
    files: {
      'package.json': '{ "type": "module" }',
      'refuse-globex': '',
      // Fails for globex while the file refuse-globex exists beside the config.
      'tenant-migrations/001_things.ts': `import { existsSync } from 'node:fs';
export async function up(db, ctx) {
  if (ctx.schema === 'globex' && existsSync(new URL('../refuse-globex', import.meta.url))) throw new Error('not yet');
  await db.schema.createTable('things').addColumn('id', 'integer').execute();
}
`,
    },
  });
  const refused = await s.get('globex.test', '/whoami');
  assert.equal(refused.status, 503);
  assert.equal(s.service.status().find((x) => x.schema === 'globex')!.error, 'not yet');
  rmSync(`${s.dir}/refuse-globex`);
  const result = await s.service.reload();
  assert.deepEqual([(result as { changed: string[] }).changed, (result as { failed: unknown[] }).failed], [['globex'], []]);
  assert.equal((await s.get('globex.test', '/whoami')).json().schema, 'globex');
});

test('GET /readyz answers 200 while every tenant serves, and 503 naming the tenant and its reason when one cannot', async (t) => {
  const s = await startService(t, `app: ${probeApp}\ntenants:\n${tenant('acme')}`);
  const readyz = () => request(s.service.adminAddress.port, { host: '127.0.0.1', path: '/readyz' });
  const ready = await readyz();
  assert.deepEqual([ready.status, ready.json()], [200, { ready: true, notReady: [] }]);
  writeFileSync(s.configFile, `${head(s.db.url)}${tenant('acme')}${tenant('broken', '{ failStart: true }')}`);
  assert.equal((await s.service.reload()).ok, true);
  const notReady = await readyz();
  assert.equal(notReady.status, 503);
  assert.equal(notReady.json().ready, false);
  assert.match(notReady.json().notReady.join('\n'), /^broken: .*fail at start/m);
});
