// Many tenants on one machine: starts in bounded turns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from './helpers/http.ts';
import { probeApp, startService } from './helpers/service.ts';

test('many tenants boot in turns of workers.startConcurrency, the start timeout counted from each own start: no timeout, no restart', { timeout: 60_000 }, async (t) => {
  const count = 12;
  const tenants = Array.from({ length: count }, (_, i) => `  - schema: t${i}\n    hosts: [t${i}.test]\n    settings: { startDelayMs: 250 }\n`).join('');
  // Queued behind 11 others of 250 ms each, the last worker waits ~3 s: more than its start timeout.
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  startConcurrency: 1\n  startTimeout: 1500ms\ntenants:\n${tenants}`);
  const status = s.service.status();
  assert.equal(status.length, count);
  assert.ok(status.every((site) => site.state === 'ready'), status.map((x) => `${x.schema}:${x.state}`).join(' '));
  assert.equal(status.reduce((n, site) => n + site.workers.reduce((m, w) => m + w.restarts, 0), 0), 0, 'no restart');
  // One at a time: no two workers' application loads overlap.
  const windows = await Promise.all(status.map(async (site) => {
    const who = (await s.get(`${site.schema}.test`, '/whoami')).json() as { began: number; loaded: number };
    return [who.began, who.loaded] as const;
  }));
  windows.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < windows.length; i++) assert.ok(windows[i]![0] >= windows[i - 1]![1], `start ${i} began before start ${i - 1} was done`);
});

type Site = { schema: string; state: string; workers: { pid: number | null; state: string }[] };
const sites = (s: Awaited<ReturnType<typeof startService>>) => s.service.status() as unknown as Site[];
const site = (s: Awaited<ReturnType<typeof startService>>, schema: string) => sites(s).find((x) => x.schema === schema)!;

test('a min 0 tenant has no process until its first request, serves it, stops after idleTimeout, and starts again', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  min: 0\n  idleTimeout: 600ms\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n`);
  assert.equal(site(s, 'acme').state, 'idle');
  assert.deepEqual(site(s, 'acme').workers, [], 'no process before the first request');
  assert.equal(s.service.readiness().ready, true, 'an idle tenant is not a problem');
  const first = await s.get('acme.test', '/whoami');
  assert.equal(first.status, 200);
  assert.equal(site(s, 'acme').workers.length, 1);
  await eventually(() => (site(s, 'acme').workers.length === 0 ? true : undefined), 10_000, 'the idle worker to stop');
  assert.equal(site(s, 'acme').state, 'idle');
  const second = await s.get('acme.test', '/whoami');
  assert.equal(second.status, 200);
  assert.notEqual(second.json().pid, first.json().pid, 'a new worker');
  const metrics = s.service.metricsText();
  assert.match(metrics, /^tenantd_cold_starts_total 2$/m);
  assert.match(metrics, /^tenantd_idle_stops_total 1$/m);
});

test('at workers.maxLive the least recently used idle worker of another tenant stops to make room; nothing fails', { timeout: 60_000 }, async (t) => {
  const tenants = ['a', 'b', 'c'].map((x) => `  - schema: ${x}\n    hosts: [${x}.test]\n`).join('');
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  min: 0\n  maxLive: 2\ntenants:\n${tenants}`);
  assert.equal((await s.get('a.test', '/whoami')).status, 200);
  assert.equal((await s.get('b.test', '/whoami')).status, 200);
  // a was used least recently: c's first request takes its place.
  const c = await s.get('c.test', '/whoami');
  assert.equal(c.status, 200);
  await eventually(() => (site(s, 'a').workers.length === 0 ? true : undefined), 10_000, "a's worker to be evicted");
  assert.equal(site(s, 'b').workers.length, 1, 'b, used more recently, stays');
  assert.match(s.service.metricsText(), /^tenantd_evictions_total 1$/m);
  assert.match(s.service.metricsText(), /^tenantd_live_workers 2$/m);
  // And back: a request for a evicts b (now the least recent idle one).
  assert.equal((await s.get('a.test', '/whoami')).status, 200);
  await eventually(() => (site(s, 'b').workers.length === 0 ? true : undefined), 10_000, "b's worker to be evicted");
});

test('a tenant whose workers are all busy gets another one, up to max, and requests go to the least busy', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  min: 1\n  max: 2\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n`);
  const busyPid = site(s, 'acme').workers[0]!.pid;
  const slow = s.get('acme.test', '/slow?ms=4000');
  // Busy: a request in flight (proxy path) or a connection held (hand-off).
  await eventually(() => { const w = s.service.status()[0]!.workers[0]!; return w.inFlight + w.connections === 1 ? true : undefined; }, 5000, 'the slow request in flight');
  // This request finds every worker busy: a second one starts (this one goes to the least busy there is).
  assert.equal((await s.get('acme.test', '/whoami')).status, 200);
  await eventually(() => (site(s, 'acme').workers.filter((w) => w.state === 'ready').length === 2 ? true : undefined), 10_000, 'a second ready worker');
  const other = (await s.get('acme.test', '/whoami')).json();
  assert.notEqual(other.pid, busyPid, 'the idle worker answers while the first is busy');
  assert.equal((await slow).status, 200);
  assert.equal(site(s, 'acme').workers.length, 2, 'never more than max');
});

test('live workers are capped by the database connection budget at poolSize each', { timeout: 60_000 }, async (t) => {
  const tenants = ['a', 'b', 'c'].map((x) => `  - schema: ${x}\n    hosts: [${x}.test]\n`).join('');
  // 11 connections at 5 per pool: two workers at most, whatever maxLive says.
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  min: 0\n  maxLive: 50\ntenants:\n${tenants}`, { database: '  poolSize: 5\n  maxConnections: 11\n' });
  assert.equal(s.service.summary().maxLive, 2);
  for (const x of ['a', 'b', 'c']) assert.equal((await s.get(`${x}.test`, '/whoami')).status, 200);
  await eventually(() => (s.service.summary().liveWorkers === 2 ? true : undefined), 10_000, 'two live workers');
  assert.equal(s.service.summary().databases[0]!.budget, 11);
});

test('cold requests queued behind other starts wait their turn: queueTimeout counts from their worker\'s own start', { timeout: 60_000 }, async (t) => {
  const tenants = ['a', 'b', 'c'].map((x) => `  - schema: ${x}\n    hosts: [${x}.test]\n    settings: { startDelayMs: 2000 }\n`).join('');
  const s = await startService(t, `app: ${probeApp}\nworkers:\n  min: 0\n  startConcurrency: 1\nrouter:\n  queueTimeout: 4s\ntenants:\n${tenants}`);
  // Three starts of 2 s in one lane: the last request waits over 6 s, beyond its 4 s queueTimeout.
  const replies = await Promise.all(['a', 'b', 'c'].map((x) => s.get(`${x}.test`, '/whoami')));
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
});
