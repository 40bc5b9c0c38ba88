import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import WebSocket from 'ws';
import { eventually } from './helpers/http.ts';
import { probeApp, startService } from './helpers/service.ts';
import { freePort } from './helpers/serve-process.ts';

const probe = (extra = '', tenants = '') => `app: ${probeApp}
${extra}
tenants:
  - schema: acme
    hosts: [acme.test]
  - schema: globex
    hosts: [globex.test]
${tenants}`;

const seen = async (s: { get: (h: string, p: string) => Promise<{ json(): { seen: number } }> }) => (await s.get('acme.test', '/count')).json().seen;

test('a request without Host gets 400 and one with a malformed Host gets 400', async (t) => {
  const s = await startService(t, probe());
  assert.equal((await s.get(undefined, '/whoami')).status, 400);
  for (const host of ['acme..test', 'user@acme.test', 'acme.test:http', '[]']) {
    assert.equal((await s.get(host, '/whoami')).status, 400, host);
  }
});

test('an unknown host gets 404 and reaches no worker', async (t) => {
  const s = await startService(t, probe());
  const before = await seen(s);
  const reply = await s.get('evil.test', '/count');
  assert.equal(reply.status, 404);
  assert.equal(await seen(s), before + 1, 'only the second /count reached acme');
});

test('the router sets X-Forwarded-For/Proto/Host; a client X-Forwarded-Host never steers routing', async (t) => {
  const s = await startService(t, probe());
  const spoofed = await s.get('evil.test', '/headers', { headers: { 'x-forwarded-host': 'acme.test' } });
  assert.equal(spoofed.status, 404);

  const reply = await s.get('acme.test:1234', '/headers', {
    headers: { 'x-forwarded-host': 'globex.test', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' },
  });
  assert.equal(reply.status, 200);
  const headers = reply.json();
  assert.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  assert.equal(headers['x-forwarded-proto'], 'http');
  assert.equal(headers['x-forwarded-host'], 'acme.test:1234');
  assert.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(reply.headers['x-request-id'], headers['x-request-id']);
});

test('a worker that drops the connection gives 502; one that stays silent gives 504', async (t) => {
  const s = await startService(t, probe('router:\n  upstreamTimeout: 300ms'));
  assert.equal((await s.get('acme.test', '/drop')).status, 502);
  assert.equal((await s.get('acme.test', '/slow?ms=2000')).status, 504);
  assert.equal((await s.get('acme.test', '/slow?ms=10')).status, 200);
});

test('a body over the limit gets 413 and never reaches the worker', async (t) => {
  const s = await startService(t, probe('router:\n  bodyLimit: 1k'));
  const before = await seen(s);
  const big = await s.send('acme.test', 'POST', '/echo-body', 'x'.repeat(2000));
  assert.equal(big.status, 413);
  assert.equal(await seen(s), before + 1);
  const small = await s.send('acme.test', 'POST', '/echo-body', 'x'.repeat(1000));
  assert.deepEqual(small.json(), { length: 1000 });
});

test('a request for a restarting worker waits for it; a tenant that cannot start gets 503 with Retry-After', async (t) => {
  const s = await startService(t, probe('router:\n  queueTimeout: 5s', `  - schema: broken
    hosts: [broken.test]
    settings: { failStart: true }
`));
  const before = (await s.get('acme.test', '/whoami')).json().pid;
  assert.equal((await s.get('acme.test', '/exit')).status, 200);
  await eventually(() => (s.service.status().find((x) => x.schema === 'acme')!.workers[0]!.state !== 'ready' ? true : undefined), 5000, 'the worker to exit');
  const after = await s.get('acme.test', '/whoami');
  assert.equal(after.status, 200);
  assert.notEqual(after.json().pid, before);

  const broken = await s.get('broken.test', '/whoami');
  assert.equal(broken.status, 503);
  assert.match(String(broken.headers['retry-after']), /^\d+$/);
  assert.equal((await s.get('globex.test', '/whoami')).status, 200);
  const status = s.service.status().find((x) => x.schema === 'broken')!;
  assert.equal(status.state, 'failed');
  assert.ok(status.workers[0]!.restarts >= 5);
});

test('WebSocket upgrades are forwarded to the tenant of the Host', async (t) => {
  const s = await startService(t, probe());
  const echo = (host: string) => new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { host } });
    ws.once('open', () => ws.send('ping'));
    ws.once('message', (data) => { resolve(String(data)); ws.close(); });
    ws.once('error', reject);
  });
  assert.equal(await echo('acme.test'), 'acme:ping');
  assert.equal(await echo('globex.test'), 'globex:ping');
  await assert.rejects(echo('evil.test'), /404/);
});

test('each request writes one access-log line with tenant, method, path, status, bytes, duration and request id', async (t) => {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const s = await startService(t, probe(), { log: pino({ level: 'info' }, sink) });
  await s.get('acme.test', '/whoami?x=1', { headers: { 'x-request-id': 'req-42' } });
  await s.get('nobody.test', '/');
  const access = lines.filter((l) => l.access).map((l) => l.access);
  const hit = access.find((a) => a.requestId === 'req-42');
  assert.ok(hit, 'a line for the request');
  assert.deepEqual({ ...hit, durationMs: typeof hit.durationMs }, {
    tenant: 'acme', method: 'GET', path: '/whoami', status: 200, bytes: hit.bytes, durationMs: 'number', requestId: 'req-42',
  });
  assert.ok(hit.bytes > 10);
  assert.ok(access.some((a) => a.tenant === null && a.status === 404));
  assert.equal(access.filter((a) => a.requestId === 'req-42').length, 1);
});

test('workers listen on loopback ports from workers.ports when it is set', async (t) => {
  const from = await freePort();
  const s = await startService(t, probe(`workers:\n  ports: "${from}-${from + 20}"`));
  const ports = s.service.status().flatMap((x) => x.workers.map((w) => w.port!));
  assert.equal(ports.length, 2);
  for (const port of ports) assert.ok(port >= from && port <= from + 20, String(port));
  assert.equal((await s.get('globex.test', '/whoami')).json().schema, 'globex');
});
