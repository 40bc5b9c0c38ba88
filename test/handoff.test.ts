// The router's hand-off path: a keep-alive connection is given to its tenant's
// worker after the first request head, and every later request on it meets the
// same rules there: another tenant's request is answered through the router and
// ends the connection; smuggling attempts never reach another tenant.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, request } from './helpers/http.ts';
import { hammer } from './helpers/load.ts';
import { RawConnection } from './helpers/raw-http.ts';
import { startServe } from './helpers/serve-process.ts';
import { twoProbeTenants, startService, type RunningService } from './helpers/service.ts';

const seen = async (s: RunningService, host: string) => (await s.get(host, '/count')).json().seen as number;

test('a keep-alive connection is handed to its tenant\'s worker: the worker sees the client\'s own socket', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const c = new RawConnection(s.port);
  t.after(() => c.close());
  await c.ready();
  const first = await c.get('acme.test', '/socket');
  assert.equal(first.status, 200);
  assert.equal(first.json().remotePort, c.socket.localPort, 'the worker reads the client\'s connection, not the router\'s');
  const second = await c.get('acme.test', '/headers');
  const seenHeaders = second.json();
  assert.equal(seenHeaders['x-forwarded-for'], '127.0.0.1');
  assert.equal(seenHeaders['x-forwarded-proto'], 'http');
  assert.equal(seenHeaders['x-forwarded-host'], 'acme.test');
  assert.match(seenHeaders['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(second.headers['x-request-id'], seenHeaders['x-request-id']);
  assert.equal(s.service.status().find((x) => x.schema === 'acme')!.workers[0]!.connections, 1);
});

test('with router.handoff: false the worker sees the router\'s connection instead', async (t) => {
  const s = await startService(t, twoProbeTenants, { handoff: false });
  const c = new RawConnection(s.port);
  t.after(() => c.close());
  await c.ready();
  const first = await c.get('acme.test', '/socket');
  assert.notEqual(first.json().remotePort, c.socket.localPort);
  assert.equal(s.service.status().find((x) => x.schema === 'acme')!.workers[0]!.connections, 0);
});

test('a request for another tenant on a handed-off connection is answered through the router, then the connection closes', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const globexBefore = await seen(s, 'globex.test');
  const c = new RawConnection(s.port);
  t.after(() => c.close());
  await c.ready();
  // Pipelined in one write: acme, globex, acme again.
  await c.write([
    'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n',
    'GET /headers HTTP/1.1\r\nHost: globex.test\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: acme.test\r\n\r\n',
    'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n',
  ].join(''));
  await c.closedByServer();
  const [first, second, third] = c.responses();
  assert.equal(first!.json().schema, 'acme');
  assert.equal(second!.status, 200);
  const globexSaw = second!.json();
  assert.equal(globexSaw.host, 'globex.test', 'globex answered its own request');
  assert.equal(globexSaw['x-forwarded-for'], '127.0.0.1', 'the client\'s address, once (its own list replaced: it is no trusted front)');
  assert.equal(globexSaw['x-forwarded-host'], 'globex.test');
  assert.equal(globexSaw['x-tenantd-reroute'], undefined, 'the worker\'s token never reaches an application');
  assert.equal(second!.headers.connection, 'close');
  assert.equal(third, undefined, 'nothing after the foreign request was served on that connection');
  assert.equal(await seen(s, 'globex.test'), globexBefore + 2, 'globex saw its one request (and this count)');

});

test('smuggling attempts on a handed-off connection never reach another tenant', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const before = await seen(s, 'globex.test');
  const smuggled = 'GET /count HTTP/1.1\r\nHost: globex.test\r\n\r\n';
  // 1. A body that looks like a request: it is a body.
  const a = new RawConnection(s.port);
  t.after(() => a.close());
  await a.ready();
  await a.write(`POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
  assert.deepEqual((await a.next()).json(), { length: smuggled.length });
  // 2. Content-Length with Transfer-Encoding, first on the connection and later on it: 400, connection closed.
  for (const prefix of ['', 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']) {
    const b = new RawConnection(s.port);
    t.after(() => b.close());
    await b.ready();
    await b.write(`${prefix}POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`);
    await b.closedByServer();
    assert.match(b.text, /HTTP\/1\.1 400 /);
  }
  // 3. Two Host lines on a later request: 400, connection closed, never routed by either.
  const d = new RawConnection(s.port);
  t.after(() => d.close());
  await d.ready();
  await d.get('acme.test', '/whoami');
  await d.write('GET /count HTTP/1.1\r\nHost: acme.test\r\nHost: globex.test\r\n\r\n');
  await d.closedByServer();
  assert.equal(d.responses().at(-1)!.status, 400);
  assert.equal(await seen(s, 'globex.test'), before + 1, 'globex saw only this count');
});

test('a worker killed while it holds handed-off connections: its clients reconnect to the restarted worker; other tenants see nothing', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const acme = new RawConnection(s.port);
  const globex = new RawConnection(s.port);
  t.after(() => { acme.close(); globex.close(); });
  await Promise.all([acme.ready(), globex.ready()]);
  const pid = (await acme.get('acme.test', '/whoami')).json().pid as number;
  assert.equal((await globex.get('globex.test', '/whoami')).status, 200);
  process.kill(pid, 'SIGKILL');
  await acme.closedByServer();
  assert.equal((await globex.get('globex.test', '/whoami')).json().schema, 'globex', 'the other tenant\'s connection lives on');
  const after = await eventually(async () => {
    const reply = await request(s.port, { host: 'acme.test', path: '/whoami' }).catch(() => undefined);
    return reply?.status === 200 ? reply.json().pid as number : undefined;
  }, 10_000, 'acme on a new connection');
  assert.notEqual(after, pid);
  // The router no longer counts the dead worker's connection against the client.
  await eventually(() => (s.service.status().find((x) => x.schema === 'acme')!.workers[0]!.connections === 0 ? true : undefined), 5000, 'the lost connection released');
});

test('metrics count requests served on handed-off connections; a scrape does not wait for workers', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const c = new RawConnection(s.port);
  t.after(() => c.close());
  await c.ready();
  for (let i = 0; i < 5; i++) assert.equal((await c.get('acme.test', '/whoami')).status, 200);
  const metrics = await eventually(async () => {
    const text = (await request(s.service.adminAddress.port, { host: '127.0.0.1', path: '/metrics' })).body;
    return /^tenantd_requests_total\{tenant="acme",code="2xx"\} 5$/m.test(text) ? text : undefined;
  }, 5000, 'five acme requests counted');
  assert.match(metrics, /^tenantd_request_duration_seconds_count\{tenant="acme"\} 5$/m);
});

for (const oneShot of [false, true]) {
test(`a reload under ${oneShot ? 'one-request-connection (pooled)' : 'keep-alive'} load fails no request: draining workers close idle connections and end busy ones after their response`, async (t) => {
  const s = await startService(t, twoProbeTenants);
  const load = hammer(s.port, ['acme.test', 'globex.test'], '/whoami', 4, oneShot);
  await load.after(100);
  const pidsBefore = s.service.status().flatMap((x) => x.workers.map((w) => w.pid));
  // A new setting for acme: its workers are replaced while clients hold connections to them.
  const { writeFileSync, readFileSync } = await import('node:fs');
  writeFileSync(s.configFile, readFileSync(s.configFile, 'utf8').replace('hosts: [acme.test]', 'hosts: [acme.test]\n    settings: { v: 2 }'));
  const result = await s.service.reload();
  assert.equal(result.ok, true);
  // Requests go on being served after the reload (load.after fails otherwise).
  await load.after(200);
  const { failures } = await load.stop();
  assert.deepEqual(failures, []);
  const acme = s.service.status().find((x) => x.schema === 'acme')!;
  assert.ok(!pidsBefore.includes(acme.workers[0]!.pid), 'acme runs a new worker');
  assert.equal((await s.get('acme.test', '/whoami')).json().settings.v, 2);
});
}

test('SIGTERM under keep-alive load, two tenants on one connection: every request the service accepted is answered; only new connections are refused', async (t) => {
  const s = await startService(t, twoProbeTenants);
  // One client sending both tenants down the same connections (as a load
  // balancer in front does), and one client per tenant. A request for the other
  // tenant on a handed-off connection is rerouted: it must still be served while
  // the service shuts down.
  const loads = [hammer(s.port, ['acme.test', 'globex.test']), hammer(s.port, ['acme.test']), hammer(s.port, ['globex.test'])];
  await Promise.all(loads.map((l) => l.after(50)));
  await s.service.stop();
  const results = await Promise.all(loads.map((l) => l.stop()));
  const failures = results.flatMap((r, i) => r.failures.map((f) => `client ${i + 1}: ${f}`));
  // After the listener closed, a new connection is refused: that is shutdown. A
  // request accepted and then dropped (reset, hang up) would be a failure.
  assert.deepEqual(failures.filter((f) => !/ECONNREFUSED/.test(f)), []);
});

test('a client that goes away while its request for another tenant is rerouted is logged at debug, without a stack, not as a warning', async (t) => {
  const s = await startServe(t, { yaml: `log:\n  level: debug\n  access: false\n${twoProbeTenants}` });
  const c = new RawConnection(s.port);
  t.after(() => c.close());
  assert.equal((await c.get('acme.test', '/whoami')).status, 200);
  // globex's request goes through the router; the client leaves while globex sleeps on it.
  await c.write('GET /slow?ms=2000 HTTP/1.1\r\nHost: globex.test\r\n\r\n');
  await eventually(() => (s.output().includes('slow request started') ? true : undefined), 5000, 'the rerouted request to reach globex');
  c.reset();
  const line = await eventually(() => s.output().split('\n').find((l) => l.includes('while its request was rerouted')), 5000, 'the debug line');
  assert.equal(JSON.parse(line).level, 'debug');
  assert.doesNotMatch(line, /"stack"/);
  assert.doesNotMatch(s.output(), /rerouting a request for another tenant failed/);
});
