// tenantd behind fronts: the PROXY protocol (v1, v2) from router.trustedProxies
// only, on the plain and the TLS listener; X-Forwarded-* kept from a trusted
// front and replaced from anyone else; a trusted HTTP front's kept-alive
// connection serving requests for several tenants, one after another.
// Clients: raw sockets from 127.0.0.1 (the trusted front) and 127.0.0.2 (not).
import assert from 'node:assert/strict';
import test from 'node:test';
import { RawConnection, exchange } from './helpers/raw-http.ts';
import { startService, twoProbeTenants } from './helpers/service.ts';

const trustedYaml = (extra = '') => `router:\n  trustedProxies: [127.0.0.1]\n${extra}${twoProbeTenants}`;

/** A PROXY protocol v2 header for a TCP over IPv4 client. */
function proxyV2(client: string, port: number): Buffer {
  const header = Buffer.alloc(28);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header, 0);
  header[12] = 0x21; // version 2, PROXY
  header[13] = 0x11; // TCP over IPv4
  header.writeUInt16BE(12, 14);
  client.split('.').forEach((octet, i) => { header[16 + i] = Number(octet); });
  [10, 0, 0, 1].forEach((octet, i) => { header[20 + i] = octet; });
  header.writeUInt16BE(port, 24);
  header.writeUInt16BE(443, 26);
  return header;
}

test('from a trusted front, a PROXY header (v1 and v2) gives the client\'s address: in X-Forwarded-For and the per-client limit; its own X-Forwarded-For is not trusted', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, trustedYaml('  maxConnectionsPerClient: 2\n'));
  for (const header of [Buffer.from('PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n'), proxyV2('203.0.113.9', 5555)]) {
    const c = new RawConnection(s.port);
    await c.write([header, 'GET /headers HTTP/1.1\r\nHost: acme.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n']);
    const reply = await c.next();
    assert.equal(reply.status, 200);
    assert.equal(reply.json()['x-forwarded-for'], '203.0.113.9', 'the PROXY header\'s client; the client\'s own list dropped');
    // Kept alive, the second request is the same client's.
    assert.equal((await c.get('acme.test', '/headers')).json()['x-forwarded-for'], '203.0.113.9');
    c.close();
  }
  // Per-client limit (2) by the PROXY header's address: a third connection of 203.0.113.7 is refused, another client's is not.
  const held = [new RawConnection(s.port), new RawConnection(s.port)];
  for (const c of held) await c.write([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n'), 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
  for (const c of held) assert.equal((await c.next()).status, 200);
  const third = await exchange(s.port, [Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5556 80\r\n'), 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
  assert.equal(third.responses()[0]?.status, 429);
  const other = new RawConnection(s.port);
  await other.write([Buffer.from('PROXY TCP4 198.51.100.1 10.0.0.1 5555 80\r\n'), 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n']);
  assert.equal((await other.next()).status, 200);
  for (const c of [...held, other]) c.close();
  // A broken header: 400, one line.
  const broken = await exchange(s.port, 'PROXY TCP4 nonsense\r\nGET / HTTP/1.1\r\nHost: acme.test\r\n\r\n');
  assert.equal(broken.responses()[0]?.status, 400);
  assert.equal(broken.responses()[0]!.body.toString(), '400 a malformed PROXY protocol header\n');
});

test('from anyone not in router.trustedProxies, a PROXY header is refused and X-Forwarded-For/-Proto are replaced', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, trustedYaml());
  const refused = await exchange(s.port, 'PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\nGET /headers HTTP/1.1\r\nHost: acme.test\r\n\r\n', { localAddress: '127.0.0.2' });
  assert.equal(refused.responses()[0]?.status, 400);
  const c = new RawConnection(s.port, { localAddress: '127.0.0.2' });
  const headers = (await c.get('acme.test', '/headers', 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n')).json();
  assert.equal(headers['x-forwarded-for'], '127.0.0.2');
  assert.equal(headers['x-forwarded-proto'], 'http');
  c.close();
});

test('a trusted HTTP front\'s kept-alive connection carries requests for several tenants, each served by its own, on one connection; its X-Forwarded-For is appended to', { timeout: 60_000 }, async (t) => {
  const s = await startService(t, trustedYaml());
  const c = new RawConnection(s.port);
  const seen: string[] = [];
  for (let i = 0; i < 20; i++) {
    const host = i % 2 === 0 ? 'acme.test' : 'globex.test';
    const reply = await c.get(host, '/whoami');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.connection, undefined, 'the connection stays open');
    seen.push(reply.json().schema);
  }
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'acme' : 'globex')));
  // A body (Content-Length) and the forwarded headers of a front.
  await c.write('POST /echo-body HTTP/1.1\r\nHost: globex.test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world');
  const echoed = await c.next('POST');
  assert.equal(echoed.status, 200);
  assert.equal(echoed.json().length, 11, 'the body reached globex whole');
  const headers = (await c.get('acme.test', '/headers', 'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n')).json();
  assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(headers['x-forwarded-proto'], 'https');
  // Pipelined: two requests for two tenants in one write.
  await c.write('GET /whoami HTTP/1.1\r\nHost: globex.test\r\n\r\nGET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n');
  assert.equal((await c.next()).json().schema, 'globex');
  assert.equal((await c.next()).json().schema, 'acme');
  assert.equal(c.closed, false);
  c.close();
  // The same from an untrusted client: the connection is handed to acme's worker and closed after a foreign request (as before).
  const plain = new RawConnection(s.port, { localAddress: '127.0.0.2' });
  assert.equal((await plain.get('acme.test', '/whoami')).json().schema, 'acme');
  const crossed = await plain.get('globex.test', '/whoami');
  assert.equal(crossed.json().schema, 'globex');
  assert.equal(crossed.headers.connection, 'close');
  plain.close();
});
