import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { retryAfterSeconds } from '../src/base/retry-after.ts';
import pino from 'pino';
import WebSocket from 'ws';
import { eventually, request } from './helpers/http.ts';
import { probeApp, routerModes, startService } from './helpers/service.ts';
import { freePort, startServe } from './helpers/serve-process.ts';

const probe = (extra = '', tenants = '') => `app: ${probeApp}
${extra}
tenants:
  - schema: acme
    hosts: [acme.test]
  - schema: globex
    hosts: [globex.test]
${tenants}`;

const seen = async (s: { get: (h: string, p: string) => Promise<{ json(): { seen: number } }> }) => (await s.get('acme.test', '/count')).json().seen;

for (const { handoff, label } of routerModes) {
  test(`a request without Host gets 400 and one with a malformed Host gets 400${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    assert.equal((await s.get(undefined, '/whoami')).status, 400);
    for (const host of ['acme..test', 'user@acme.test', 'acme.test:http', '[]']) {
      assert.equal((await s.get(host, '/whoami')).status, 400, host);
    }
  });

  test(`an unknown host gets 404 and reaches no worker${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    const before = await seen(s);
    const reply = await s.get('evil.test', '/count');
    assert.equal(reply.status, 404);
    assert.equal(await seen(s), before + 1, 'only the second /count reached acme');
  });

  test(`from router.trustedProxies, X-Forwarded-For is appended to and X-Forwarded-Proto kept${label}`, async (t) => {
    const s = await startService(t, probe('router:\n  trustedProxies: [127.0.0.0/8]'), { handoff });
    const headers = (await s.get('acme.test', '/headers', { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } })).json();
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'https');
  });

  test(`the router sets X-Forwarded-For/Proto/Host; a client X-Forwarded-Host never steers routing${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    const spoofed = await s.get('evil.test', '/headers', { headers: { 'x-forwarded-host': 'acme.test' } });
    assert.equal(spoofed.status, 404);

    const reply = await s.get('acme.test:1234', '/headers', {
      headers: { 'x-forwarded-host': 'globex.test', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' },
    });
    assert.equal(reply.status, 200);
    const headers = reply.json();
    // A client's own X-Forwarded-For and -Proto prove nothing: replaced.
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-forwarded-host'], 'acme.test:1234');
    assert.match(headers['x-request-id'], /^[0-9a-f-]{36}$/);
    assert.equal(reply.headers['x-request-id'], headers['x-request-id']);

    // A client's X-Request-Id is kept when it is a plain token, replaced when it
    // could forge a log line or a header (spaces, quotes, overlong).
    const kept = await s.get('acme.test', '/headers', { headers: { 'x-request-id': 'lb-7f3a.01_x' } });
    assert.equal(kept.json()['x-request-id'], 'lb-7f3a.01_x');
    assert.equal(kept.headers['x-request-id'], 'lb-7f3a.01_x');
    for (const forged of ['a b', 'x"}, "status": 200', 'x'.repeat(129)]) {
      const replaced = await s.get('acme.test', '/headers', { headers: { 'x-request-id': forged } });
      assert.match(replaced.json()['x-request-id'], /^[0-9a-f-]{36}$/, forged);
    }
  });

  test(`a body over the limit gets 413 and never reaches the worker${label}`, async (t) => {
    const s = await startService(t, probe('router:\n  bodyLimit: 1k'), { handoff });
    const before = await seen(s);
    const big = await s.send('acme.test', 'POST', '/echo-body', 'x'.repeat(2000));
    assert.equal(big.status, 413);
    assert.equal(await seen(s), before + 1);
    const small = await s.send('acme.test', 'POST', '/echo-body', 'x'.repeat(1000));
    assert.deepEqual(small.json(), { length: 1000 });
  });

  test(`a request for a restarting worker waits for it; a tenant that cannot start gets 503 with Retry-After${label}`, async (t) => {
    const s = await startService(t, probe('router:\n  queueTimeout: 5s', `  - schema: broken
    hosts: [broken.test]
    settings: { failStart: true }
`), { handoff });
    const before = (await s.get('acme.test', '/whoami')).json().pid;
    assert.equal((await s.get('acme.test', '/exit')).status, 200);
    await eventually(() => (s.service.status().find((x) => x.schema === 'acme')!.workers[0]!.state !== 'ready' ? true : undefined), 5000, 'the worker to exit');
    const after = await s.get('acme.test', '/whoami');
    assert.equal(after.status, 200);
    assert.notEqual(after.json().pid, before);

    const broken = await s.get('broken.test', '/whoami');
    assert.equal(broken.status, 503);
    assert.equal(broken.headers['retry-after'], String(retryAfterSeconds));
    assert.equal((await s.get('globex.test', '/whoami')).status, 200);
    const status = s.service.status().find((x) => x.schema === 'broken')!;
    assert.equal(status.state, 'failed');
    assert.ok(status.workers[0]!.restarts >= 5);
  });

  test(`WebSocket upgrades are forwarded to the tenant of the Host${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
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
}

test('[router.handoff: false] a worker that drops the connection gives 502; one that stays silent gives 504', async (t) => {
  const s = await startService(t, probe('router:\n  upstreamTimeout: 300ms'), { handoff: false });
  assert.equal((await s.get('acme.test', '/drop')).status, 502);
  assert.equal((await s.get('acme.test', '/slow?ms=2000')).status, 504);
  assert.equal((await s.get('acme.test', '/slow?ms=10')).status, 200);
});

test('on a handed-off connection an application that stays silent gives 504, and one that drops the connection closes it', async (t) => {
  const s = await startService(t, probe('router:\n  upstreamTimeout: 300ms'));
  // Keep-alive connections: handed to the worker.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const slow = await s.get('acme.test', '/slow?ms=2000', { agent });
  assert.equal(slow.status, 504);
  assert.equal(slow.headers.connection, 'close');
  // The application is the endpoint of the client's connection: dropping it is the client's connection closing.
  await assert.rejects(s.get('acme.test', '/drop', { agent }), /socket hang up|ECONNRESET/);
  assert.equal((await s.get('acme.test', '/slow?ms=10', { agent })).status, 200);
});

test('on a one-request connection (Connection: close) an application that stays silent gives 504 and one that drops the connection 502, as on the proxy path', async (t) => {
  const s = await startService(t, probe('router:\n  upstreamTimeout: 300ms'));
  const slow = await s.get('acme.test', '/slow?ms=2000');
  assert.equal(slow.status, 504);
  assert.equal(slow.headers.connection, 'close');
  const before = await seen(s);
  const dropped = await s.get('acme.test', '/drop');
  assert.equal(dropped.status, 502);
  assert.equal(await seen(s), before + 2, 'the dropped request reached the application once, and is not sent again');
  assert.equal((await s.get('acme.test', '/slow?ms=10')).status, 200);
});

test('[router.handoff: false] each request writes one access-log line with tenant, method, path, status, bytes, duration and request id', async (t) => {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const s = await startService(t, probe(), { log: pino({ level: 'info' }, sink), handoff: false, accessLog: true });
  await s.get('acme.test', '/whoami?x=1', { headers: { 'x-request-id': 'req-42' } });
  await s.get('nobody.test', '/');
  const access = lines.filter((l) => l.access).map((l) => l.access);
  const hit = access.find((a) => a.requestId === 'req-42');
  assert.ok(hit, 'a line for the request');
  assert.deepEqual({ ...hit, durationMs: typeof hit.durationMs }, {
    tenant: 'acme', method: 'GET', path: '/whoami', status: 200, bytes: hit.bytes, durationMs: 'number', requestId: 'req-42', client: '127.0.0.1',
  });
  assert.ok(hit.bytes > 10);
  assert.ok(access.some((a) => a.tenant === null && a.status === 404));
  assert.equal(access.filter((a) => a.requestId === 'req-42').length, 1);
});


test('on handed-off connections the worker writes the access-log line: the same fields, one line per request', async (t) => {
  const s = await startServe(t, { yaml: probe() });
  await request(s.port, { host: 'acme.test', path: '/whoami?x=1', headers: { 'x-request-id': 'req-43' } });
  await request(s.port, { host: 'nobody.test', path: '/' });
  const access = await eventually(() => {
    const lines = s.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.access).map((l) => l.access);
    return lines.some((a) => a.requestId === 'req-43') && lines.some((a) => a.status === 404) ? lines : undefined;
  }, 5000, 'the access lines');
  const hit = access.find((a) => a.requestId === 'req-43');
  assert.deepEqual({ ...hit, durationMs: typeof hit.durationMs }, {
    tenant: 'acme', method: 'GET', path: '/whoami', status: 200, bytes: hit.bytes, durationMs: 'number', requestId: 'req-43', client: '127.0.0.1',
  });
  assert.ok(hit.bytes > 10);
  assert.ok(access.some((a) => a.tenant === null && a.status === 404));
  assert.equal(access.filter((a) => a.requestId === 'req-43').length, 1);
});

test('workers listen on loopback ports from workers.ports when it is set', async (t) => {
  const from = await freePort();
  const s = await startService(t, probe(`workers:\n  ports: "${from}-${from + 20}"`));
  const ports = s.service.status().flatMap((x) => x.workers.map((w) => w.port!));
  assert.equal(ports.length, 2);
  for (const port of ports) assert.ok(port >= from && port <= from + 20, String(port));
  assert.equal((await s.get('globex.test', '/whoami')).json().schema, 'globex');
});
