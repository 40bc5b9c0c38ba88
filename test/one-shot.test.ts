// One-request connections on the hand-off path: the router writes the request
// to the worker over a pooled kept-alive connection and passes the response
// back with `Connection: close`. What a client relies on: every framing of a
// response arrives whole and the connection closes after it; the worker sees
// the router's pooled connection (reused) and the client's address in
// X-Forwarded-For; each request is logged and counted once.
import assert from 'node:assert/strict';
import test from 'node:test';
import { ChunkedBodyEnd } from '../src/router/chunked-body-end.ts';
import { eventually } from './helpers/http.ts';
import { exchange, RawConnection, type RawResponse } from './helpers/raw-http.ts';
import { startService, twoProbeTenants } from './helpers/service.ts';

/** Sends one request with `Connection: close` on a raw socket and reads until the router closes it. */
async function oneShot(port: number, method: string, path: string, host = 'acme.test'): Promise<RawResponse> {
  const c = await exchange(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n`);
  return c.responses(method)[0]!;
}

test('a one-request connection gets every framing of a response whole, with Connection: close', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const chunked = await oneShot(s.port, 'GET', '/whoami');
  assert.equal(chunked.status, 200);
  assert.equal(chunked.headers['transfer-encoding'], 'chunked');
  assert.equal(chunked.headers.connection, 'close');
  assert.equal(chunked.headers['keep-alive'], undefined);
  assert.match(chunked.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  assert.equal(chunked.json().schema, 'acme');

  const sized = await oneShot(s.port, 'GET', '/sized');
  assert.deepEqual([sized.status, sized.headers['content-length'], sized.body.toString()], [200, '14', '{"sized":true}']);
  // A small sized body leaves in the same write as the head: its bytes unchanged, every value.
  const bytes = await oneShot(s.port, 'GET', '/bytes');
  assert.deepEqual([bytes.status, bytes.headers['content-length']], [200, '256']);
  assert.deepEqual([...bytes.body], Array.from({ length: 256 }, (_, i) => i));
  const empty = await oneShot(s.port, 'GET', '/empty');
  assert.deepEqual([empty.status, empty.body.length], [204, 0]);
  const head = await oneShot(s.port, 'HEAD', '/sized');
  assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, '14', 0]);
  const early = await oneShot(s.port, 'GET', '/early');
  assert.deepEqual(early.interim, [103]);
  assert.deepEqual(early.json(), { early: true });
  const unframed = await oneShot(s.port, 'GET', '/unframed');
  assert.equal(unframed.body.toString(), 'first part, second part');
  const big = await oneShot(s.port, 'GET', '/big?kb=4096');
  const payload = big.body.toString();
  assert.equal(payload.length, 4096 * 1024);
  assert.equal(payload, 'abcdefgh'.repeat(512 * 1024));
  // The other tenant, on its own pool.
  assert.equal((await oneShot(s.port, 'GET', '/whoami', 'globex.test')).json().schema, 'globex');
});

test('one-request connections reuse the router\'s pooled connection to the worker; the client\'s address is in X-Forwarded-For', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const first = (await oneShot(s.port, 'GET', '/socket')).json() as { remotePort: number; remoteAddress: string };
  const second = (await oneShot(s.port, 'GET', '/socket')).json() as { remotePort: number };
  assert.equal(second.remotePort, first.remotePort, 'the same upstream connection');
  const headers = (await oneShot(s.port, 'GET', '/headers')).json() as Record<string, string>;
  assert.equal(headers['x-forwarded-for'], '127.0.0.1', 'the client\'s address (its own list replaced: it is no trusted front)');
  assert.equal(headers.connection, undefined, 'the client\'s Connection: close is the router\'s, not the worker\'s');
});

test('header bytes outside ASCII reach the worker byte for byte', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const c = await exchange(s.port, Buffer.concat([Buffer.from('GET /headers HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\nX-Name: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')]));
  // Node reads header bytes as latin1: 0xE9 is é. Re-encoded as UTF-8 on the way it would be Ã©.
  assert.equal(c.responses()[0]!.json<Record<string, string>>()['x-name'], 'café');
});

test('one-request connections are counted once each in /metrics', async (t) => {
  const s = await startService(t, twoProbeTenants);
  for (let i = 0; i < 5; i++) await oneShot(s.port, 'GET', '/sized');
  await oneShot(s.port, 'GET', '/nothing-here');
  const text = s.service.metricsText();
  assert.match(text, /tenantd_requests_total\{tenant="acme",code="2xx"\} 5\n/);
  assert.match(text, /tenantd_requests_total\{tenant="acme",code="4xx"\} 1\n/);
});

test('the chunked-body scanner finds the end at any split, with extensions and trailers, and refuses broken framing', () => {
  const body = Buffer.from('4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n');
  for (let split = 0; split <= body.length; split++) {
    const scanner = new ChunkedBodyEnd();
    const first = scanner.scan(body.subarray(0, split));
    if (split === body.length) assert.equal(first, body.length);
    else {
      assert.equal(first, undefined, `split ${split}`);
      assert.equal(scanner.scan(body.subarray(split)), body.length - split, `split ${split}`);
    }
  }
  assert.equal(new ChunkedBodyEnd().scan(Buffer.from('0\r\n\r\nHTTP/1.1 200 OK\r\n')), 5, 'bytes after the body are not the body');
  for (const broken of ['x\r\n', '4\r\nWikiX', '4\r\nWiki\r\r', '\r\n', `${'f'.repeat(16)}\r\n`]) {
    assert.equal(new ChunkedBodyEnd().scan(Buffer.from(broken)), 'invalid', JSON.stringify(broken));
  }
});

/** A one-request connection whose client keeps its own side open after the response: the response's text, and the connection. */
async function halfOpenRequest(port: number): Promise<{ text: string; connection: RawConnection }> {
  const connection = new RawConnection(port, { allowHalfOpen: true });
  await connection.write('GET /whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n');
  await connection.until(() => connection.ended);
  return { text: connection.text, connection };
}

test('the router closes a one-request connection once its response is written: a client that keeps its side open holds no connection slot', async (t) => {
  const s = await startService(t, `${twoProbeTenants}router:\n  maxConnectionsPerClient: 2\n`);
  const held: RawConnection[] = [];
  t.after(() => held.forEach((h) => h.close()));
  for (let i = 1; i <= 4; i++) {
    // The router's close follows its FIN at once; it may count the connection
    // gone a moment after the client sees the FIN, so a 429 is tried again. A
    // router that held the slot until the client closes answers 429 for good.
    const { text } = await eventually(async () => {
      const reply = await halfOpenRequest(s.port);
      held.push(reply.connection);
      return /^HTTP\/1\.1 429 /.test(reply.text) ? undefined : reply;
    }, 5000, `request ${i} to be admitted`);
    assert.match(text, /^HTTP\/1\.1 200 /, `request ${i} on its own connection, the ones before still open on the client's side`);
  }
});

test('a client that sends bytes after its one request gets a staged close: the whole response, a FIN, and its further bytes read, not reset', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const c = new RawConnection(s.port, { allowHalfOpen: true });
  t.after(() => c.close());
  // Bytes after a `Connection: close` request (a broken client, or a pipelining one).
  await c.write('GET /sized HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\nGET /whoami HTTP/1.1\r\n');
  await c.until(() => c.ended);
  assert.match(c.text, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n[^]*\{"sized":true\}$/i);
  // The router's side is half-closed and still reading: more bytes meet no
  // reset; once this side ends too, the connection closes cleanly.
  for (let i = 0; i < 3; i++) c.socket.write('Host: acme.test\r\n');
  c.socket.end();
  await c.closedByServer();
  assert.deepEqual(c.errors, []);
});
