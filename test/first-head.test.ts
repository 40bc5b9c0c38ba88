// The strict first-head reader, without a server: every form it accepts (and
// what it reads of each), every form it sends to the proxy path, and when it
// waits for more bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanFirstHead, type FirstHead } from '../src/router/first-head.ts';

const limits = { maxHeaderSize: 16 * 1024, maxHeaderLineSize: 8 * 1024 };
const scan = (text: string | Buffer, l = limits) => scanFirstHead(Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'), l);

const accepted: [string, string, Partial<FirstHead>][] = [
  ['a plain GET', 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\n\r\n', { method: 'GET', target: '/whoami', host: 'acme.test', contentLength: 0, close: false, chunked: false, upgrade: false }],
  ['a query and a port', 'GET /a?b=c&d HTTP/1.1\r\nHost: acme.test:8080\r\n\r\n', { target: '/a?b=c&d', host: 'acme.test:8080' }],
  ['a declared body', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n', { method: 'POST', contentLength: 12 }],
  ['a chunked body', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', { chunked: true }],
  ['chunked in any case', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n', { chunked: true }],
  ['Connection: close', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { close: true, connection: ['close'] }],
  ['Connection options in a list, any case', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Upgrade, X-Foo\r\n\r\n', { close: false, upgrade: true, connection: ['keep-alive', 'upgrade', 'x-foo'] }],
  ['whitespace around values', 'GET / HTTP/1.1\r\nHost: \t a \t\r\nX-A:b\r\n\r\n', { host: 'a', values: ['', 'a', 'b'] }],
  ['header names as sent, read lower case', 'GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-Case: v\r\n\r\n', { names: ['', 'host', 'x-mixed-case'] }],
  ['bytes 0x80-0xFF in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\u00e9\r\n\r\n', { values: ['', 'a', 'caf\u00e9'] }],
  ['TRACE (the tenant decides)', 'TRACE / HTTP/1.1\r\nHost: a\r\n\r\n', { method: 'TRACE' }],
  ['a head that ends exactly at maxHeaderSize', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'x'.repeat(100 - 32)}\r\n\r\n`, { method: 'GET' }],
];

for (const [what, text, expected] of accepted) {
  test(`the first-head reader accepts ${what}`, () => {
    const result = scan(text, what.includes('maxHeaderSize') ? { maxHeaderSize: 100, maxHeaderLineSize: 100 } : limits);
    assert.equal(result.kind, 'head', JSON.stringify(text));
    const head = (result as { head: FirstHead }).head;
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(head[key as keyof FirstHead], value, key);
    assert.equal(head.length, Buffer.byteLength(text, 'latin1'), 'the head length counts its blank line');
  });
}

const proxied: [string, string | Buffer][] = [
  ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
  ['HTTP/2.0 in a request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
  ['an absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['the asterisk form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['an authority-form target', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['a lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['no Host', 'GET / HTTP/1.1\r\nX: y\r\n\r\n'],
  ['two Host lines', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['two Content-Length lines', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'],
  ['a Content-Length that is not digits', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n'],
  ['a negative Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n'],
  ['an overlong Content-Length', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${'9'.repeat(16)}\r\n\r\n`],
  ['Content-Length with chunked (the smuggling shape)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'],
  ['a coding other than chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
  ['chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'],
  ['a folded header line', 'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n'],
  ['a line without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n'],
  ['an empty header name', 'GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n'],
  ['a space in a header name', 'GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n'],
  ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
  ['a control character in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\u0001b\r\n\r\n'],
  ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\u0000\r\n\r\n'],
  ['bare LF line ends, before the head is complete', 'GET / HTTP/1.1\nHost: a\n'],
  ['one bare LF among CRLFs', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n'],
  ['a bare CR', 'GET / HTTP/1.1\r\nHost: a\rX: y'],
  ['a head over maxHeaderSize, not yet complete', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'x'.repeat(16 * 1024)}`],
  ['a complete head over maxHeaderSize', `GET / HTTP/1.1\r\nHost: a\r\n${'X-A: b\r\n'.repeat(2100)}\r\n`],
  ['a header line over maxHeaderLineSize', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'x'.repeat(8 * 1024)}\r\n\r\n`],
  ['a request line over maxHeaderLineSize', `GET /${'x'.repeat(8 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n`],
];

for (const [what, text] of proxied) {
  test(`the first-head reader sends the proxy path ${what}`, () => {
    assert.equal(scan(text).kind, 'proxy', JSON.stringify(text).slice(0, 120));
  });
}

test('the first-head reader waits for more bytes while the head is incomplete and well-formed so far, at any split', () => {
  const text = 'POST /x HTTP/1.1\r\nHost: acme.test\r\nContent-Length: 3\r\n\r\n';
  for (let split = 0; split < text.length; split++) {
    assert.equal(scan(text.slice(0, split)).kind, 'incomplete', `after ${split} bytes`);
  }
  assert.equal(scan(text).kind, 'head');
  // A CR at the very end may be the start of a CRLF.
  assert.equal(scan('GET / HTTP/1.1\r').kind, 'incomplete');
});
