// The router's ClientHello reader, without a server: real ClientHellos (Node's
// TLS client, caught by a TCP server), cut at every byte, re-framed, broken.
import assert from 'node:assert/strict';
import net from 'node:net';
import test from 'node:test';
import tls from 'node:tls';
import { maxClientHelloBytes, scanClientHello } from '../src/tls/client-hello.ts';

async function hello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const caught = new Promise<Buffer>((resolve) => server.once('connection', (socket) => {
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      bytes = Buffer.concat([bytes, chunk]);
      const length = bytes.length >= 5 ? 5 + bytes.readUInt16BE(3) : Infinity;
      if (bytes.length >= length) {
        resolve(bytes.subarray(0, length));
        socket.destroy();
      }
    });
  }));
  tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, ...options }).on('error', () => {});
  const bytes = await caught;
  server.close();
  return bytes;
}

test('a ClientHello gives its server name (lower case, no trailing dot) and its ALPN list', async () => {
  const scan = scanClientHello(await hello({ servername: 'Acme.Example.', ALPNProtocols: ['h2', 'http/1.1'] }));
  assert.deepEqual(scan, { kind: 'hello', serverName: 'acme.example', alpn: ['h2', 'http/1.1'] });
});

test('a ClientHello with no server name, or an IP where a name goes, names none', async () => {
  assert.deepEqual(scanClientHello(await hello({})), { kind: 'hello', serverName: undefined, alpn: [] });
});

test('every cut of a ClientHello is partial until its last byte', async () => {
  const bytes = await hello({ servername: 'acme.test' });
  for (let i = 0; i < bytes.length; i++) assert.deepEqual(scanClientHello(bytes.subarray(0, i)), { kind: 'partial' }, `cut at ${i}`);
  assert.equal(scanClientHello(bytes).kind, 'hello');
});

test('a ClientHello over two records and over many is read whole', async () => {
  const bytes = await hello({ servername: 'acme.test' });
  const body = bytes.subarray(5);
  const record = (part: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 255]), part]);
  const two = Buffer.concat([record(body.subarray(0, 3)), record(body.subarray(3))]);
  assert.equal((scanClientHello(two) as { serverName?: string }).serverName, 'acme.test');
  const many = Buffer.concat([...body].map((b) => record(Buffer.from([b]))));
  assert.equal((scanClientHello(many) as { serverName?: string }).serverName, 'acme.test');
});

test('plain HTTP is told apart; anything else is invalid: other records, lengths past the end, oversized', () => {
  assert.deepEqual(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'plain-http' });
  assert.deepEqual(scanClientHello(Buffer.from('PRI * HTTP/2.0\r\n')), { kind: 'plain-http' });
  assert.equal(scanClientHello(Buffer.from([0x17, 0x03, 0x03, 0, 1, 0])).kind, 'invalid');
  assert.equal(scanClientHello(Buffer.from([0x16, 0x02, 0x00, 0, 1, 0])).kind, 'invalid', 'not TLS 1.x');
  assert.equal(scanClientHello(Buffer.from([0x16, 0x03, 0x01, 0, 4, 0x02, 0, 0, 0])).kind, 'invalid', 'a ServerHello');
  // A ClientHello whose inner lengths run past its end.
  const broken = Buffer.from([0x16, 0x03, 0x01, 0, 8, 0x01, 0, 0, 4, 0x03, 0x03, 0xff, 0xff]);
  assert.equal(scanClientHello(broken).kind, 'invalid');
  // Declaring more than the limit.
  assert.equal(scanClientHello(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00])).kind, 'invalid');
  // Records past the limit without the message's end.
  const filler = Buffer.concat(Array.from({ length: 3 }, () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x18, 0x00]), Buffer.alloc(0x1800, 0)])));
  const header = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x3f, 0x00]);
  assert.ok(header.length + filler.length > maxClientHelloBytes);
  assert.equal(scanClientHello(Buffer.concat([header, filler])).kind, 'invalid');
});
