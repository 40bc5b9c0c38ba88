import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { retryAfterSeconds } from '../src/base/retry-after.ts';
import { bin } from './helpers/cli.ts';
import { eventually, request } from './helpers/http.ts';
import { freePort, isAlive } from './helpers/serve-process.ts';
import { probeApp, writeFiles } from './helpers/service.ts';

/** `tenantd serve` as `npm start` runs it: no database URL, the embedded PostgreSQL under dataDir. */
async function serveEmbedded(t: TestContext, app = '') {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = writeFiles(t, {
    'tenantd.yaml': `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:${adminPort}\n${app}database:\n  dataDir: data\ntenants:\n  - schema: acme\n    hosts: [acme.localhost]\n`,
  });
  // Run as root, the cluster belongs to the postgres user, who must pass through.
  chmodSync(dir, 0o711);
  const env = { ...process.env };
  delete env.TENANTD_DATABASE_URL;
  const child = spawn(process.execPath, [bin, 'serve', '-c', path.join(dir, 'tenantd.yaml')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await eventually(() => {
    if (child.exitCode !== null) throw new Error(`serve exited: ${output}`);
    return output.includes('"msg":"tenantd serving"') ? true : undefined;
  }, 60_000, 'tenantd serve on the embedded database');
  const postmaster = Number(readFileSync(path.join(dir, 'data', 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { child, exited, port, dir, postmaster, output: () => output };
}

test('serve without a database URL runs the embedded PostgreSQL, serves the demo, and stops it on SIGTERM', { timeout: 120_000 }, async (t) => {
  const s = await serveEmbedded(t);
  const created = await request(s.port, { host: 'acme.localhost', method: 'POST', path: '/api/tasks', body: '{"title":"embedded"}', headers: { 'content-type': 'application/json' } });
  assert.equal(created.status, 201);
  assert.equal((await request(s.port, { host: 'acme.localhost', path: '/api/tasks' })).json()[0].title, 'embedded');
  assert.ok(isAlive(s.postmaster));
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  await eventually(() => (isAlive(s.postmaster) ? undefined : true), 30_000, 'the embedded PostgreSQL to stop');
});

test('a forced exit (second signal) still stops the embedded PostgreSQL', { timeout: 120_000 }, async (t) => {
  const s = await serveEmbedded(t, `app: ${probeApp}\n`);
  // A slow request keeps the graceful stop busy, so that the second signal finds it running.
  const slow = request(s.port, { host: 'acme.localhost', path: '/slow?ms=30000' }).catch((error: Error) => error);
  await eventually(() => (s.output().includes('slow request started') ? true : undefined), 10_000, 'the slow request');
  s.child.kill('SIGTERM');
  await eventually(() => (s.output().includes('stopping: finishing in-flight requests') ? true : undefined), 10_000, 'the first signal');
  s.child.kill('SIGTERM');
  assert.ok((await slow) instanceof Error);
  assert.equal(await s.exited, 1);
  await eventually(() => (isAlive(s.postmaster) ? undefined : true), 30_000, 'the embedded PostgreSQL to stop');
});

test('the embedded PostgreSQL killed with -9 is restarted; workers live on, answer 503 meanwhile, then serve', { timeout: 120_000 }, async (t) => {
  const s = await serveEmbedded(t);
  const admin = Number(/admin":"127\.0\.0\.1:(\d+)/.exec(s.output())![1]);
  const tasks = () => request(s.port, { host: 'acme.localhost', path: '/api/tasks' });
  assert.equal((await tasks()).status, 200);
  // Which processes, and how often restarted: not their load of the moment.
  const workers = async () => ((await request(admin, { host: '127.0.0.1', path: '/status' })).json().tenants[0].workers as { pid: number; restarts: number }[]).map(({ pid, restarts }) => ({ pid, restarts }));
  const before = await workers();
  process.kill(s.postmaster, 'SIGKILL');
  // While it is away: 503 with Retry-After, never 500 or 502; /readyz says so.
  const during = new Set<number>();
  await eventually(async () => {
    const reply = await tasks();
    during.add(reply.status);
    if (reply.status === 503) assert.equal(reply.headers['retry-after'], String(retryAfterSeconds));
    return reply.status === 200 && during.has(503) ? true : undefined;
  }, 60_000, 'a 503 and then recovery');
  assert.deepEqual([...during].filter((status) => status !== 200 && status !== 503), [], 'no other status while the database was away');
  await eventually(async () => ((await request(admin, { host: '127.0.0.1', path: '/readyz' })).status === 200 ? true : undefined), 30_000, 'ready again');
  const metrics = (await request(admin, { host: '127.0.0.1', path: '/metrics' })).body;
  assert.match(metrics, /^tenantd_database_restarts_total 1$/m);
  assert.match(s.output(), /the embedded PostgreSQL is not running; restarting it/);
  assert.deepEqual(await workers(), before, 'no worker exited or restarted');
  const postmaster = Number(readFileSync(path.join(s.dir, 'data', 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
  assert.notEqual(postmaster, s.postmaster);
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  await eventually(() => (isAlive(postmaster) ? undefined : true), 30_000, 'the restarted PostgreSQL to stop');
});
