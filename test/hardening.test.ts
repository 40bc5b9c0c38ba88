import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, request } from './helpers/http.ts';
import { exchange, parseResponses, RawConnection } from './helpers/raw-http.ts';
import { probeApp, routerModes, startService, type RunningService } from './helpers/service.ts';

const probe = (router = '') => `app: ${probeApp}
${router ? `router:\n${router}` : ''}
tenants:
  - schema: acme
    hosts: [acme.test]
`;

const seen = async (s: RunningService) => (await s.get('acme.test', '/count')).json().seen as number;

/** Sends raw bytes and collects what comes back until the server closes. */
async function raw(port: number, chunks: (string | Buffer)[], gapMs = 0): Promise<{ text: string; closed: boolean }> {
  const c = await exchange(port, chunks, { gapMs });
  return { text: c.text, closed: c.closed };
}

/** Opens a connection from `localAddress` and resolves once the router answered a request on it. */
async function holdConnection(port: number, localAddress: string): Promise<RawConnection> {
  const c = new RawConnection(port, { localAddress });
  const reply = await c.get('acme.test', '/whoami');
  if (reply.status !== 200) throw new Error(reply.head);
  return c;
}

for (const { handoff, label } of routerModes) {
  test(`a chunked body that grows past the limit gets 413; one under it passes${label}`, async (t) => {
    const s = await startService(t, probe('  bodyLimit: 1k'), { handoff });
    const head = 'POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
    const chunk = (n: number) => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;
    const big = await raw(s.port, [head, chunk(600), chunk(600), chunk(600), '0\r\n\r\n']);
    assert.match(big.text, /^HTTP\/1\.1 413 /);
    const small = await raw(s.port, [head, chunk(500), chunk(400), '0\r\n\r\n']);
    assert.match(small.text, /^HTTP\/1\.1 200 /);
    assert.match(small.text, /\{"length":900\}/);
  });

  test(`a request head over maxHeaderSize gets 431${label}`, async (t) => {
    const s = await startService(t, probe('  maxHeaderSize: 4k'), { handoff });
    const reply = await raw(s.port, [`GET /whoami HTTP/1.1\r\nHost: acme.test\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`]);
    assert.match(reply.text, /^HTTP\/1\.1 431 /);
    assert.equal((await s.get('acme.test', '/whoami', { headers: { 'x-small': 'a'.repeat(1000) } })).status, 200);
  });

  test(`a client that trickles its headers is cut off with 408${label}`, async (t) => {
    const s = await startService(t, probe('  headersTimeout: 800ms'), { handoff });
    const trickle = ['GET /whoami HTTP/1.1\r\n', 'Host: acme.test\r\n', ...Array.from({ length: 40 }, (_, i) => `X-${i}: y\r\n`)];
    const reply = await raw(s.port, trickle, 100);
    assert.equal(reply.closed, true);
    assert.match(reply.text, /^HTTP\/1\.1 408 /);
  });

  test(`an idle keep-alive connection is closed after keepAliveTimeout${label}`, async (t) => {
    const s = await startService(t, probe('  keepAliveTimeout: 300ms'), { handoff });
    const opened = Date.now();
    const reply = await raw(s.port, ['GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
    assert.match(reply.text, /^HTTP\/1\.1 200 /);
    assert.equal(reply.closed, true, 'the server closed the idle connection');
    // Closed by the configured 300 ms, not by Node's default of 5 s (or the 75 s default of tenantd).
    assert.ok(Date.now() - opened < 3000, `closed after ${Date.now() - opened} ms`);
  });

  test(`connections beyond maxConnections are refused while the others are served${label}`, async (t) => {
    const s = await startService(t, probe('  maxConnections: 2'), { handoff });
    // Two keep-alive connections that the router has answered on, so it holds both.
    const open = await Promise.all([0, 1].map(() => holdConnection(s.port, '127.0.0.1')));
    t.after(() => open.forEach((o) => o.close()));
    const third = await raw(s.port, ['GET /whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n']);
    assert.match(third.text, /^HTTP\/1\.1 503 .*\r\nRetry-After: 5\r\n/s, 'the third connection is refused with 503 and closed');
    assert.ok(!third.text.includes('acme'), 'the refused request reached no worker');
    open.forEach((o) => o.close());
    await eventually(async () => ((await s.get('acme.test', '/whoami').catch(() => undefined))?.status === 200 ? true : undefined), 5000, 'a free slot');
  });

  test(`Content-Length together with Transfer-Encoding gets 400 and is never forwarded${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    const before = await seen(s);
    const reply = await raw(s.port, ['POST /echo-body HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
    assert.match(reply.text, /^HTTP\/1\.1 400 /);
    assert.equal(await seen(s), before + 1);
  });

  test(`hop-by-hop headers are stripped in both directions${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    const reply = await s.get('acme.test', '/headers', {
      headers: { connection: 'keep-alive, x-drop-me', 'x-drop-me': 'secret', 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-authorization': 'Basic eDp5', 'x-kept': 'yes' },
    });
    const headers = reply.json();
    for (const name of ['x-drop-me', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(headers[name], undefined, name);
    assert.equal(headers['x-kept'], 'yes');

    const hop = await s.get('acme.test', '/hop');
    assert.equal(hop.body, 'hop');
    for (const name of ['x-internal', 'proxy-authenticate']) assert.equal(hop.headers[name], undefined, name);
    assert.notEqual(hop.headers['keep-alive'], 'timeout=99');
  });

  test(`malformed Host values get 400: spaces, control characters, overlong, userinfo${label}`, async (t) => {
    const s = await startService(t, probe(), { handoff });
    for (const host of ['acme .test', 'acme.test\u0001', `${'a'.repeat(64)}.test`, `${'abc.'.repeat(70)}test`, 'user:pw@acme.test', 'acme.test:99999x']) {
      const reply = await raw(s.port, [`GET /whoami HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]);
      assert.match(reply.text, /^HTTP\/1\.1 400 /, JSON.stringify(host));
    }
  });

  test(`Host per RFC 9112: one Host line, a valid port, HTTP/1.x only; an absolute-form target routes by its authority${label}`, async (t) => {
    const s = await startService(t, `app: ${probeApp}\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n`, { handoff });
    const before = await seen(s);
    const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
    const duplicate = await raw(s.port, ['GET /whoami HTTP/1.1\r\nHost: acme.test\r\nHost: globex.test\r\n\r\n']);
    assert.equal(status(duplicate.text), 400);
    const badPort = await raw(s.port, ['GET /whoami HTTP/1.1\r\nHost: acme.test:99999\r\n\r\n']);
    assert.equal(status(badPort.text), 400);
    const http2 = await raw(s.port, ['GET /whoami HTTP/2.0\r\nHost: acme.test\r\n\r\n']);
    assert.equal(status(http2.text), 505);
    const http09 = await raw(s.port, ['GET /whoami\r\n\r\n']);
    assert.ok(status(http09.text) === 505 || status(http09.text) === 400, http09.text);
    assert.equal(await seen(s), before + 1, 'none of them reached a worker (the one more is this count)');
    // The target's authority wins; a conflicting Host does not matter, and the worker sees the authority as Host.
    const absolute = await raw(s.port, ['GET http://globex.test/headers HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n']);
    assert.equal(status(absolute.text), 200);
    const headers = parseResponses(Buffer.from(absolute.text, 'latin1'), true).responses[0]!.json();
    assert.equal(headers.host, 'globex.test');
    assert.equal(headers['x-forwarded-host'], 'globex.test');
    const notHttp = await raw(s.port, ['GET ftp://globex.test/ HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
    assert.equal(status(notHttp.text), 400);
  });

  test(`one client cannot take every connection: its excess is refused with 429 while another client is served${label}`, async (t) => {
    const s = await startService(t, probe('  maxConnections: 8\n  maxConnectionsPerClient: 5'), { handoff });
    const held: RawConnection[] = [];
    t.after(() => held.forEach((h) => h.close()));
    for (let i = 0; i < 5; i++) held.push(await holdConnection(s.port, '127.0.0.1'));
    const excess = await raw(s.port, ['GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
    assert.match(excess.text, /^HTTP\/1\.1 429 /);
    const other = await request(s.port, { host: 'acme.test', path: '/whoami' }).catch(() => undefined);
    assert.equal(other?.status, 429, 'the same address is still over its share');
    // Another address is served; when the global limit is full, the biggest client makes room.
    for (let i = 0; i < 3; i++) held.push(await holdConnection(s.port, '127.0.0.2'));
    const third = await exchange(s.port, 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.3' });
    assert.match(third.text, /^HTTP\/1\.1 200 /, 'a new client is served although 8 connections were open');
    await eventually(() => (held.filter((h) => h.closed || h.ended).length === 1 ? true : undefined), 5000, "one of the biggest client's connections to close");
    assert.ok(held.slice(0, 5).some((h) => h.closed || h.ended), 'it was one of the 5 held by 127.0.0.1');
  });
}

test('the admin API listens on its own loopback address, can require a bearer token, and is not reachable through the router', async (t) => {
  const token = 'a-long-enough-admin-token-1234';
  const s = await startService(t, `adminToken: ${token}\n${probe()}`);
  const admin = s.service.adminAddress;
  assert.equal(admin.address, '127.0.0.1');
  const get = (path: string, authorization?: string) => request(admin.port, { host: '127.0.0.1', path, headers: authorization ? { authorization } : {} });
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/status')).status, 401);
  assert.equal((await get('/status', `Bearer ${token}x`)).status, 401);
  assert.equal((await get('/metrics', 'Bearer nope')).status, 401);
  assert.equal((await get('/status', `Bearer ${token}`)).status, 200);

  // Through the public listener, /status is just a path of some tenant (or 404).
  const viaTenant = await s.get('acme.test', '/status');
  assert.deepEqual([viaTenant.status, viaTenant.json()], [404, { error: 'not found' }]);
  assert.equal((await s.get('127.0.0.1', '/status')).status, 404);
  assert.equal((await s.send('localhost', 'POST', '/reload')).status, 404);
});

