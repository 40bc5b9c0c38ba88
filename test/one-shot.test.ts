// One-request connections on the hand-off path: the router writes the request
// to the worker over a pooled kept-alive connection and passes the response
// back with `Connection: close`. What a client relies on: every framing of a
// response arrives whole and the connection closes after it; the worker sees
// the router's pooled connection (reused) and the client's address in
// X-Forwarded-For; each request is logged and counted once.
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';
import { ChunkedBodyEnd } from '../src/router/chunked-body-end.ts';
import { startService, twoProbeTenants } from './helpers/service.ts';

interface Raw { status: number; headers: Record<string, string>; body: Buffer; interim: number[] }

/** Sends one request with `Connection: close` on a raw socket and reads until the router closes it. */
function oneShot(port: number, method: string, path: string, host = 'acme.test'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      let rest = Buffer.concat(chunks);
      const interim: number[] = [];
      for (;;) {
        const end = rest.indexOf('\r\n\r\n');
        const lines = rest.toString('latin1', 0, end).split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        rest = rest.subarray(end + 4);
        if (status >= 100 && status < 200) {
          interim.push(status);
          continue;
        }
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
        return resolve({ status, headers, body: rest, interim });
      }
    });
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n`);
  });
}

/** A chunked body's payload, as UTF-8 text. */
function dechunk(body: Buffer): string {
  const parts: Buffer[] = [];
  let rest = body;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.toString('latin1', 0, line), 16);
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    parts.push(rest.subarray(line + 2, line + 2 + size));
    rest = rest.subarray(line + 2 + size + 2);
  }
}

test('a one-request connection gets every framing of a response whole, with Connection: close', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const chunked = await oneShot(s.port, 'GET', '/whoami');
  assert.equal(chunked.status, 200);
  assert.equal(chunked.headers['transfer-encoding'], 'chunked');
  assert.equal(chunked.headers.connection, 'close');
  assert.equal(chunked.headers['keep-alive'], undefined);
  assert.match(chunked.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
  assert.equal(JSON.parse(dechunk(chunked.body)).schema, 'acme');

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
  assert.deepEqual(JSON.parse(dechunk(early.body)), { early: true });
  const unframed = await oneShot(s.port, 'GET', '/unframed');
  assert.equal(unframed.body.toString(), 'first part, second part');
  const big = await oneShot(s.port, 'GET', '/big?kb=4096');
  const payload = dechunk(big.body);
  assert.equal(payload.length, 4096 * 1024);
  assert.equal(payload, 'abcdefgh'.repeat(512 * 1024));
  // The other tenant, on its own pool.
  assert.equal(JSON.parse(dechunk((await oneShot(s.port, 'GET', '/whoami', 'globex.test')).body)).schema, 'globex');
});

test('one-request connections reuse the router\'s pooled connection to the worker; the client\'s address is in X-Forwarded-For', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const first = JSON.parse(dechunk((await oneShot(s.port, 'GET', '/socket')).body)) as { remotePort: number; remoteAddress: string };
  const second = JSON.parse(dechunk((await oneShot(s.port, 'GET', '/socket')).body)) as { remotePort: number };
  assert.equal(second.remotePort, first.remotePort, 'the same upstream connection');
  const headers = JSON.parse(dechunk((await oneShot(s.port, 'GET', '/headers')).body)) as Record<string, string>;
  assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(headers.connection, undefined, 'the client\'s Connection: close is the router\'s, not the worker\'s');
});

test('header bytes outside ASCII reach the worker byte for byte', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c)).on('error', reject).on('end', () => resolve(Buffer.concat(chunks)));
    socket.write(Buffer.concat([Buffer.from('GET /headers HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\nX-Name: caf'), Buffer.from([0xe9]), Buffer.from('\r\n\r\n')]));
  });
  const body = reply.subarray(reply.indexOf('\r\n\r\n') + 4);
  // Node reads header bytes as latin1: 0xE9 is é. Re-encoded as UTF-8 on the way it would be Ã©.
  assert.equal((JSON.parse(dechunk(body)) as Record<string, string>)['x-name'], 'café');
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

/** A one-request connection whose client keeps its own side open after the response: the response's text, and the socket. */
function halfOpenRequest(port: number): Promise<{ text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    socket.on('data', (d) => { text += d; });
    socket.on('error', reject);
    socket.on('end', () => resolve({ text, socket }));
    socket.write('GET /whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n');
  });
}

test('the router closes a one-request connection once its response is written: a client that keeps its side open holds no connection slot', async (t) => {
  const s = await startService(t, `${twoProbeTenants}router:\n  maxConnectionsPerClient: 2\n`);
  const held: net.Socket[] = [];
  t.after(() => held.forEach((h) => h.destroy()));
  for (let i = 1; i <= 4; i++) {
    const { text, socket } = await halfOpenRequest(s.port);
    held.push(socket);
    assert.match(text, /^HTTP\/1\.1 200 /, `request ${i} on its own connection, the ones before still open on the client's side`);
    // The router's close follows its FIN at once; a moment for it to count the connection gone.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test('a client that sends bytes after its one request gets a staged close: the whole response, a FIN, and its further bytes read, not reset', async (t) => {
  const s = await startService(t, twoProbeTenants);
  const socket = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  const errors: string[] = [];
  socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
  let text = '';
  socket.on('data', (d) => { text += d; });
  const ended = new Promise((resolve) => socket.once('end', resolve));
  // Bytes after a `Connection: close` request (a broken client, or a pipelining one).
  socket.write('GET /sized HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\nGET /whoami HTTP/1.1\r\n');
  await ended;
  assert.match(text, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n[^]*\{"sized":true\}$/i);
  // The router's side is half-closed and still reading: more bytes meet no reset.
  for (let i = 0; i < 3; i++) {
    socket.write('Host: acme.test\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(errors, []);
});
