import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { eventually, request } from './helpers/http.ts';
import { hammer } from './helpers/load.ts';
import { probeApp, twoProbeTenants, writeFiles } from './helpers/service.ts';
import { isAlive, startServe } from './helpers/serve-process.ts';

const tenants = twoProbeTenants;

async function workerPids(adminPort: number): Promise<Map<string, number[]>> {
  const status = (await request(adminPort, { host: '127.0.0.1', path: '/status' })).json();
  return new Map(status.tenants.map((x: { schema: string; workers: { pid: number }[] }) => [x.schema, x.workers.map((w) => w.pid)]));
}

test('SIGTERM lets a slow request in flight finish, closes idle keep-alive connections, stops every worker and exits 0', { timeout: 60_000 }, async (t) => {
  // A stop timeout far longer than the test: the exit must not wait for it.
  const s = await startServe(t, { yaml: `${tenants}workers:\n  stopTimeout: 10m\n` });
  const pids = [...(await workerPids(s.adminPort)).values()].flat();
  assert.equal(pids.length, 2);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const idle = await new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port: s.port, path: '/whoami', agent, headers: { host: 'globex.test' } }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode!));
  }));
  assert.equal(idle, 200);
  const slow = request(s.port, { host: 'acme.test', path: '/slow?ms=1500' });
  await eventually(() => (s.output().includes('slow request started') ? true : undefined), 5000, 'the slow request to reach the worker');
  s.child.kill('SIGTERM');
  const reply = await slow;
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.json(), { slept: 1500 });
  assert.equal(await s.exited, 0);
  for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
  // New connections are refused once it stopped.
  await assert.rejects(request(s.port, { host: 'acme.test', path: '/whoami' }));
});

test('kill -9 of a worker under load: its tenant recovers and the other tenant sees no error', async (t) => {
  const s = await startServe(t, { yaml: tenants });
  const before = await workerPids(s.adminPort);
  const load = hammer(s.port, ['globex.test']);
  await load.after(20);
  process.kill(before.get('acme')![0]!, 'SIGKILL');
  const recovered = await eventually(async () => {
    // A connection handed to the worker as it died is closed: a client tries again.
    const reply = await request(s.port, { host: 'acme.test', path: '/whoami' }).catch(() => undefined);
    if (!reply) return undefined;
    return reply.status === 200 ? reply.json().pid as number : undefined;
  }, 10_000, 'acme to recover');
  const { ok, failures } = await load.stop();
  assert.notEqual(recovered, before.get('acme')![0]);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures; the service said:\n${s.output().split('\n').filter((l) => !l.includes('"access"')).join('\n').slice(-3000)}`);
  assert.ok(ok > 20);
  const status = (await request(s.adminPort, { host: '127.0.0.1', path: '/status' })).json();
  const acme = status.tenants.find((x: { schema: string }) => x.schema === 'acme');
  assert.deepEqual(acme.workers.map((w: { restarts: number; state: string }) => [w.restarts, w.state]), [[1, 'ready']]);
  assert.match(s.output(), /"reason":"killed by SIGKILL"/);
});

test('SIGHUP and tenantd reload apply a new config; a rejected one exits 1 and changes nothing', async (t) => {
  const s = await startServe(t, { yaml: tenants });
  writeFileSync(s.configFile, `${s.head}${tenants}  - schema: hooli\n    hosts: [hooli.test]\n`);
  s.child.kill('SIGHUP');
  await eventually(async () => ((await request(s.port, { host: 'hooli.test', path: '/whoami' })).status === 200 ? true : undefined), 20_000, 'hooli after SIGHUP');

  writeFileSync(s.configFile, `${s.head}${tenants}`);
  const applied = await runCli(['reload', '-c', s.configFile]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout, 'reloaded: added none; removed hooli; changed none\n');
  assert.equal((await request(s.port, { host: 'hooli.test', path: '/whoami' })).status, 404);

  writeFileSync(s.configFile, `${s.head}${tenants}bogus: true\n`);
  const rejected = await runCli(['reload', '-c', s.configFile]);
  assert.equal(rejected.code, 1);
  assert.match(rejected.stderr, /^tenantd: reload rejected; the running config stays: TENANTD_CONFIG_INVALID: bogus at tenantd\.yaml:\d+ — unknown key\n$/);
  assert.equal((await request(s.port, { host: 'acme.test', path: '/whoami' })).status, 200);

  const status = await runCli(['status', '--json', '-c', s.configFile]);
  assert.equal(status.code, 0);
  assert.deepEqual(JSON.parse(status.stdout).tenants.map((x: { schema: string; state: string }) => [x.schema, x.state]), [['acme', 'ready'], ['globex', 'ready']]);
  assert.equal(JSON.parse(status.stdout).summary.liveWorkers, 2);
  const summary = await runCli(['status', '-c', s.configFile]);
  assert.match(summary.stdout, /^tenants:\s+2 \(2 ready\)$/m);
  assert.match(summary.stdout, /^workers:\s+2 live of at most \d+$/m);
  assert.match(summary.stdout, /^database:\s+up, 2 tenants, \d+ tenant connections \(budget \d+ of the server's \d+\)$/m);
  assert.doesNotMatch(summary.stdout, /^acme/m, 'healthy tenants are listed with --all only');
  const table = await runCli(['status', '--all', '-c', s.configFile]);
  assert.match(table.stdout, /^acme\s+default\s+ready\s+\d+:\d+ ready 0$/m);
});

test('under systemd it reports READY=1 once serving, RELOADING=1 then READY=1 around a reload, STOPPING=1 at stop', async (t) => {
  // A stand-in for systemd-notify that records what it was asked to send.
  const dir = writeFiles(t, {});
  const script = path.join(dir, 'fake-notify.sh');
  writeFileSync(script, `#!/bin/sh\necho "$NOTIFY_SOCKET $@" >> ${dir}/notify.log\n`, { mode: 0o755 });
  const log = () => { try { return readFileSync(path.join(dir, 'notify.log'), 'utf8'); } catch { return ''; } };
  const s = await startServe(t, { yaml: tenants, env: { NOTIFY_SOCKET: '/run/fake-notify', TENANTD_SYSTEMD_NOTIFY: script } });
  await eventually(() => (log().includes('READY=1') ? true : undefined), 5000, 'READY=1');
  s.child.kill('SIGHUP');
  await eventually(() => (log().split('\n').filter((l) => l.includes('READY=1')).length === 2 ? true : undefined), 20_000, 'READY=1 after the reload');
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  const lines = log().trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' ').filter((w) => /^(READY|RELOADING|STOPPING)=1$/.test(w)).join(' ')), ['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
  assert.ok(lines.every((l) => l.startsWith(`/run/fake-notify MAINPID=${s.child.pid} `)), lines.join('\n'));
});

test('metrics count requests, latency and 5xx per tenant, and show worker restarts and memory', async (t) => {
  const s = await startServe(t, { yaml: `${tenants}router:\n  upstreamTimeout: 200ms\n` });
  for (let i = 0; i < 3; i++) await request(s.port, { host: 'acme.test', path: '/whoami' });
  // 504: the application stays silent past upstreamTimeout.
  assert.equal((await request(s.port, { host: 'acme.test', path: '/slow?ms=1000' })).status, 504);
  await request(s.port, { host: 'nobody.test', path: '/' });
  // Workers report the requests on connections handed to them in batches: a scrape never waits for them.
  const metrics = await eventually(async () => {
    const text = (await request(s.adminPort, { host: '127.0.0.1', path: '/metrics' })).body;
    return /^tenantd_request_duration_seconds_count\{tenant="acme"\} 4$/m.test(text) ? text : undefined;
  }, 5000, 'four acme requests counted');
  assert.match(metrics, /^tenantd_requests_total\{tenant="acme",code="2xx"\} 3$/m);
  assert.match(metrics, /^tenantd_requests_total\{tenant="acme",code="5xx"\} 1$/m);
  assert.match(metrics, /^tenantd_requests_total\{tenant="",code="4xx"\} 1$/m);
  assert.match(metrics, /^tenantd_request_errors_total\{tenant="acme"\} 1$/m);
  assert.match(metrics, /^tenantd_request_duration_seconds_count\{tenant="acme"\} 4$/m);
  assert.match(metrics, /^tenantd_request_duration_seconds_bucket\{tenant="acme",le="\+Inf"\} 4$/m);
  assert.match(metrics, /^tenantd_worker_restarts_total\{tenant="globex"\} 0$/m);
  assert.match(metrics, /^tenantd_worker_resident_memory_bytes\{tenant="globex",pid="\d+"\} [1-9]\d{6,}$/m);
  assert.match(metrics, /^tenantd_tenant_up\{tenant="acme",server="default"\} 1$/m);
  assert.match(metrics, /^tenantd_database_up\{server="default"\} 1$/m);
  const health = await request(s.adminPort, { host: '127.0.0.1', path: '/healthz' });
  assert.equal(health.status, 200);
  assert.equal((await request(s.adminPort, { host: '127.0.0.1', path: '/nope' })).status, 404);
});

test('no worker outlives a primary killed with SIGKILL', async (t) => {
  const s = await startServe(t, { yaml: tenants });
  const pids = [...(await workerPids(s.adminPort)).values()].flat();
  assert.equal(pids.length, 2);
  s.child.kill('SIGKILL');
  await s.exited;
  await eventually(() => (pids.every((pid) => !isAlive(pid)) ? true : undefined), 10_000, 'the workers to exit');
});

test('a second SIGTERM exits at once, without waiting for a slow request', async (t) => {
  const s = await startServe(t, { yaml: tenants });
  const slow = request(s.port, { host: 'acme.test', path: '/slow?ms=20000' }).catch((error: Error) => error);
  await eventually(() => (s.output().includes('slow request started') ? true : undefined), 5000, 'the slow request to reach the worker');
  s.child.kill('SIGTERM');
  await eventually(() => (s.output().includes('stopping: finishing in-flight requests') ? true : undefined), 5000, 'the first signal to be taken');
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 1);
  assert.ok((await slow) instanceof Error, 'the slow request was cut');
});

test('SIGTERM during startup waits for the workers being started, then stops them and exits 0', async (t) => {
  const slow = `app: ${probeApp}\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n    settings: { startDelayMs: 1500 }\n`;
  const s = await startServe(t, { yaml: slow, until: /"tenant":"acme".*"msg":"provisioned"/ });
  s.child.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  const pids = [...s.output().matchAll(/"workerPid":(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.length >= 1, 'the worker had started');
  await eventually(() => (pids.every((pid) => !isAlive(pid)) ? true : undefined), 5000, 'no worker left');
  assert.match(s.output(), /"msg":"tenantd stopped"/);
});
