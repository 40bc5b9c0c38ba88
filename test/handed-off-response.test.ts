// The worker's rewriting of an application's response on a handed-off
// connection, without a server: X-Request-Id added, hop-by-hop headers (and
// those a Connection header names) removed, whichever way the application set
// them, and the application's own header object never changed.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { HandedOffResponse } from '../src/worker/handed-off-response.ts';

/** A response as the worker's server makes it, and the head it would write. */
function respond(write: (res: HandedOffResponse) => void, requestId = 'req-1'): string {
  const req = new http.IncomingMessage(new net.Socket());
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const res = new HandedOffResponse(req);
  res.requestId = requestId;
  write(res);
  return (res as unknown as { _header: string })._header;
}

const lines = (head: string) => head.split('\r\n').filter(Boolean).slice(1).map((l) => l.toLowerCase());

test('writeHead with an object: X-Request-Id added, hop-by-hop and Connection-named headers removed, the object unchanged', () => {
  const given = { 'content-type': 'text/plain', Connection: 'x-secret, close', 'x-secret': 'internal', 'keep-alive': 'timeout=99', 'proxy-authenticate': 'Basic', trailer: 'x', upgrade: 'h2c', 'x-kept': 'yes' };
  const copy = { ...given };
  const head = respond((res) => res.writeHead(200, given));
  const got = lines(head);
  assert.ok(got.includes('x-request-id: req-1'), head);
  assert.ok(got.includes('x-kept: yes'));
  assert.ok(got.includes('content-type: text/plain'));
  for (const name of ['x-secret', 'proxy-authenticate', 'trailer', 'upgrade']) assert.ok(!got.some((l) => l.startsWith(`${name}:`)), name);
  assert.ok(!got.includes('keep-alive: timeout=99'), 'the application\'s Keep-Alive is not sent');
  assert.deepEqual(given, copy, 'the application may reuse its header object');
});

test('headers set one by one: the same rules, and an X-Request-Id the application set is kept', () => {
  const head = respond((res) => {
    res.setHeader('Connection', 'x-drop');
    res.setHeader('x-drop', '1');
    res.setHeader('x-stay', '2');
    res.appendHeader('x-request-id', 'app-chosen');
    res.writeHead(201);
  });
  const got = lines(head);
  assert.ok(got.includes('x-stay: 2'));
  assert.ok(!got.some((l) => l.startsWith('x-drop:')));
  assert.ok(got.includes('x-request-id: app-chosen'));
  assert.ok(!got.includes('x-request-id: req-1'));
  // Node still writes its own Connection header: the connection's state is tenantd's.
  assert.ok(got.some((l) => l.startsWith('connection: keep-alive') || l.startsWith('connection: close')), head);
});

test('an implicit head (write without writeHead) and an array of headers get X-Request-Id too', () => {
  assert.ok(lines(respond((res) => res.end('x'))).includes('x-request-id: req-1'));
  const head = respond((res) => res.writeHead(200, 'OK', ['x-a', '1', 'Connection', 'x-b', 'x-b', '2', 'keep-alive', 'timeout=1']));
  const got = lines(head);
  assert.ok(got.includes('x-a: 1'));
  assert.ok(got.includes('x-request-id: req-1'), head);
  assert.ok(!got.some((l) => l.startsWith('x-b:')));
  assert.ok(!got.includes('keep-alive: timeout=1'));
});

test('without a request id (a refused request), nothing is added', () => {
  assert.ok(!lines(respond((res) => res.writeHead(400, { 'content-length': '0' }), '')).some((l) => l.startsWith('x-request-id')));
});
