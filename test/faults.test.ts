// Faults an operator meets: the database going away, a reload while it is
// away, two nodes on one database, a command run as the wrong user, hostile
// config files, a router port already taken.
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, query, superUrl } from './helpers/database.ts';
import { eventually, request } from './helpers/http.ts';
import { startServe } from './helpers/serve-process.ts';
import { probeApp, startService, tempDir, twoProbeTenants, writeFiles } from './helpers/service.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { retryAfterSeconds } from '../src/base/retry-after.ts';

const demoTenants = 'tenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n';

type WorkerRow = { pid: number; restarts: number; state: string };

test('a database outage answers 503 with Retry-After, never crashes a worker or fails a tenant, and recovers by itself', { timeout: 90_000 }, async (t) => {
  const db = await createTestDatabase();
  const server = new URL(db.url);
  const proxy = await startTcpProxy(t, { host: server.hostname, port: Number(server.port) });
  const s = await startService(t, demoTenants, { db: { ...db, url: proxy.through(db.url) } });
  t.after(() => db.drop());
  const tasks = () => s.get('acme.test', '/api/tasks');
  const workers = () => s.service.status().flatMap((site) => site.workers.map((w): WorkerRow => ({ pid: w.pid!, restarts: w.restarts, state: w.state })));
  assert.equal((await tasks()).status, 200);
  const before = workers();

  proxy.cut();
  const first = await tasks();
  assert.equal(first.status, 503, 'the request that meets the outage');
  assert.equal(first.headers['retry-after'], String(retryAfterSeconds), 'with the one documented Retry-After');
  await eventually(() => (s.service.readiness().ready ? undefined : true), 10_000, '/readyz to say not ready');
  assert.ok(s.service.readiness().notReady.some((reason) => /database|unavailable/.test(reason)), s.service.readiness().notReady.join('; '));
  for (let i = 0; i < 5; i++) {
    const reply = await tasks();
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], String(retryAfterSeconds), 'the same Retry-After, whether the worker or the router answers');
  }
  assert.ok(s.service.status().every((site) => site.state !== 'failed'), 'no tenant is marked failed');

  proxy.restore();
  await eventually(async () => ((await tasks()).status === 200 ? true : undefined), 15_000, 'requests to succeed again');
  await eventually(() => (s.service.readiness().ready ? true : undefined), 15_000, '/readyz to say ready');
  assert.deepEqual(workers().map((w) => [w.pid, w.restarts]), before.map((w) => [w.pid, w.restarts]), 'no worker exited');

  // The server closing the idle connections of every tenant (57P01) is a blip, not a crash.
  await query(db.superUrl, 'select pg_terminate_backend(pid) from pg_stat_activity where usename like $1', [`${db.name}_%`]);
  await eventually(async () => ((await tasks()).status === 200 ? true : undefined), 10_000, 'a request after the blip');
  assert.deepEqual(workers().map((w) => w.pid), before.map((w) => w.pid), 'no worker died of the closed connections');
});

test('a connection closed while a request holds it fails that request and crashes nothing', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const pid = s.service.status().find((site) => site.schema === 'acme')!.workers[0]!.pid;
  // The request's own backend is terminated while it holds the connection between statements.
  const reply = await s.send('acme.test', 'POST', '/sql', { sql: ['select pg_terminate_backend(pg_backend_pid())', 'select 1 as ok'] });
  assert.equal(reply.status, 200);
  // Both statements meet the typed error: the first is cut off (57P01), the second finds the connection gone.
  assert.deepEqual((reply.json() as { code?: string }[]).map((r) => r.code), ['TENANTD_DATABASE_UNAVAILABLE', 'TENANTD_DATABASE_UNAVAILABLE']);
  // The pool replaces the connection by itself: the next request succeeds, on the same worker.
  const next = await eventually(async () => {
    const answer = (await s.send('acme.test', 'POST', '/sql', { sql: ['select 1 as ok'] })).json()[0];
    return answer.rows ? answer : undefined;
  }, 10_000, 'a request on a new connection');
  assert.equal(next.rows[0].ok, 1);
  assert.equal(s.service.status().find((site) => site.schema === 'acme')!.workers[0]!.pid, pid, 'the worker lives on');
});

test('a worker is not ready before its tenant migrations are applied, and says why', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, `app: ${probeApp}\nmigrations:\n  tenant: tenant-migrations\n${twoProbeTenants.replace(/^app: .*\n/, '')}`, {
    files: { 'tenant-migrations/001_notes.mjs': 'export async function up(db) { await db.schema.createTable("notes").addColumn("id", "integer").execute(); }\n' },
  });
  writeFileSync(path.join(s.dir, 'tenant-migrations', '002_more.mjs'), 'export async function up(db) { await db.schema.createTable("more").addColumn("id", "integer").execute(); }\n');
  const acme = () => s.service.status().find((site) => site.schema === 'acme')!;
  process.kill(acme().workers[0]!.pid!, 'SIGKILL');
  await eventually(() => (acme().state === 'unavailable' ? true : undefined), 20_000, 'the restarted worker to wait for its migrations');
  assert.match(acme().error ?? '', /migrations not applied: 002_more; run tenantd migrate/);
  assert.equal((await s.get('acme.test', '/whoami')).status, 503);
  assert.equal(s.service.readiness().ready, false);
  const migrated = await runCli(['migrate', '-c', s.configFile]);
  assert.equal(migrated.code, 0, migrated.stderr);
  await eventually(() => (acme().state === 'ready' ? true : undefined), 10_000, 'the worker to become ready');
  assert.equal((await s.get('acme.test', '/whoami')).status, 200);
  assert.equal(acme().workers[0]!.restarts, 1, 'waiting for migrations is not a failure');
});

test('SIGHUP while the database is down is refused and logged; the service keeps serving', { timeout: 60_000 }, async (t) => {
  const server = new URL(superUrl());
  const proxy = await startTcpProxy(t, { host: server.hostname, port: Number(server.port) });
  const viaProxy = await startServe(t, { yaml: twoProbeTenants, databaseUrl: (url) => proxy.through(url) });
  proxy.cut();
  writeFileSync(viaProxy.configFile, `${viaProxy.head}${twoProbeTenants}  - schema: initech\n    hosts: [initech.test]\n`);
  viaProxy.child.kill('SIGHUP');
  await eventually(() => (/reload failed; the running config stays/.test(viaProxy.output()) ? true : undefined), 20_000, 'the reload to fail');
  assert.equal(viaProxy.child.exitCode, null, 'the service is still running');
  assert.match(viaProxy.output(), /TENANTD_DATABASE_UNREACHABLE/);
  proxy.restore();
  await eventually(async () => ((await request(viaProxy.port, { host: 'acme.test', path: '/whoami' })).status === 200 ? true : undefined), 15_000, 'acme to serve again');
  assert.equal((await request(viaProxy.port, { host: 'initech.test', path: '/whoami' })).status, 404, 'the rejected reload changed nothing');
});

test('two nodes on one database share stable credentials: a worker restarted on the first after the second started still logs in', { timeout: 90_000 }, async (t) => {
  const secretFile = path.join(tempDir(t), 'credentials.secret');
  const shared = `  secretFile: ${secretFile}\n${twoProbeTenants}`;
  const a = await startServe(t, { yaml: shared });
  // Node B: the same config and database, on other ports, started after A.
  const b = await startServe(t, { yaml: shared, db: a.db });
  assert.doesNotMatch(b.output(), /"notServing":[1-9]/);

  const status = async (admin: number) => (await request(admin, { host: '127.0.0.1', path: '/status' })).json().tenants as { schema: string; state: string; workers: WorkerRow[] }[];
  const acmePid = (await status(a.adminPort)).find((x) => x.schema === 'acme')!.workers[0]!.pid;
  process.kill(acmePid, 'SIGKILL');
  await eventually(async () => {
    const acme = (await status(a.adminPort)).find((x) => x.schema === 'acme')!;
    return acme.state === 'ready' && acme.workers[0]!.pid !== acmePid ? true : undefined;
  }, 20_000, "node A's restarted worker to be ready (it logged in)");
  for (const node of [a.port, b.port]) {
    const reply = await request(node, { host: 'acme.test', method: 'POST', path: '/sql', body: JSON.stringify({ sql: ['select 1 as ok'] }) });
    assert.deepEqual(reply.json(), [{ rows: [{ ok: 1 }] }]);
  }
});

test('an operator command run as the wrong user refuses in one line and touches nothing', { skip: os.userInfo().uid !== 0 ? 'needs root to own a folder as another user' : false }, async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(path.join(data, 'pgdata'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(data, 'pgdata', 'PG_VERSION'), '17\n');
  chownSync(data, 65534, 65534);
  chownSync(path.join(data, 'pgdata'), 65534, 65534);
  const before = [statSync(data), statSync(path.join(data, 'pgdata'))].map((st) => [st.uid, st.gid, st.mode]);
  writeFileSync(path.join(dir, 'tenantd.yaml'), `database:\n  dataDir: data\n${twoProbeTenants}`);
  const env = { TENANTD_DATABASE_URL: '' };
  const result = await runCli(['tenants', 'list', '-c', path.join(dir, 'tenantd.yaml')], env);
  assert.equal(result.code, 1);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^tenantd: TENANTD_WRONG_USER: the data folder .*data belongs to user \S+; run tenantd as that user \(sudo -u \S+ tenantd …\)$/);
  const after = [statSync(data), statSync(path.join(data, 'pgdata'))].map((st) => [st.uid, st.gid, st.mode]);
  assert.deepEqual(after, before, 'ownership and modes are unchanged');
});

test('a YAML alias bomb gets a one-line error from check and reload, and the running config stays', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]'].join('\n');
  writeFileSync(s.configFile, `${bomb}\n`);
  const check = await runCli(['check', '-c', s.configFile]);
  assert.equal(check.code, 1);
  assert.match(check.stderr, /^tenantd: TENANTD_CONFIG_INVALID: tenantd\.yaml — Excessive alias count .* \(at most 100 alias expansions\)\n$/);
  const reloaded = await s.service.reload();
  assert.equal(reloaded.ok, false);
  assert.match(reloaded.ok ? '' : reloaded.error, /alias/);
  assert.equal((await s.get('acme.test', '/whoami')).status, 200);
});

test('a large config is read off the router: another tenant is served throughout; an oversized one is refused', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, twoProbeTenants);
  const head = (await import('node:fs')).readFileSync(s.configFile, 'utf8');
  // About 1 MB of YAML that takes the parser seconds: many small keys.
  const blob = Array.from({ length: 20_000 }, (_, i) => `      k${i}: value number ${i} of a large settings map`).join('\n');
  writeFileSync(s.configFile, `${head}    settings:\n${blob}\n`);
  let stop = false;
  let worst = 0;
  const probe = (async () => {
    while (!stop) {
      const started = performance.now();
      assert.equal((await s.get('acme.test', '/whoami')).status, 200);
      worst = Math.max(worst, performance.now() - started);
    }
  })();
  const started = performance.now();
  const result = await s.service.reload();
  const took = performance.now() - started;
  stop = true;
  await probe;
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(result.ok && result.changed, ['globex']);
  // The read takes most of the reload; acme's requests never wait for it. On
  // the router's event loop, a request would wait about the whole read; off it,
  // the worst wait is a slice of CPU shared with the reading thread (2 cores).
  assert.ok(worst < took / 5, `acme waited ${worst.toFixed(0)} ms at worst during a ${took.toFixed(0)} ms reload`);

  writeFileSync(s.configFile, `${head}# ${'x'.repeat(4 * 1024 * 1024)}\n`);
  const refused = await s.service.reload();
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.error, /bytes, over the limit of 4194304/);
});

test('a router port already taken fails at once, before any tenant is provisioned', { timeout: 30_000 }, async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const { port } = taken.address() as net.AddressInfo;
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, { 'tenantd.yaml': `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${db.url}\n${twoProbeTenants}` });
  const result = await runCli(['serve', '-c', path.join(dir, 'tenantd.yaml')]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /TENANTD_LISTEN_FAILED: cannot listen on 127\.0\.0\.1:\d+ for the router: EADDRINUSE/);
  assert.doesNotMatch(result.stdout, /provisioned|worker ready/);
  assert.equal((await query(db.url, "select count(*)::int as n from pg_namespace where nspname in ('acme', 'globex')")).rows[0].n, 0);
});
