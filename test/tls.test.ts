// HTTPS: the router reads the ClientHello, hands the raw connection to the
// tenant's worker, and the worker terminates TLS with that tenant's certificate.
// Real TLS clients (Node's tls, curl), certificates from a test CA (openssl).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import tls from 'node:tls';
import { clusterFork } from '../src/supervisor/cluster-fork.ts';
import type { WorkerHandle } from '../src/supervisor/worker-group.ts';
import type { PrimaryMessage } from '../src/worker/worker-messages.ts';
import { scanClientHello } from '../src/tls/client-hello.ts';
import { makeCa, type TestCa } from './helpers/certificates.ts';
import { exchange, parseResponses, RawConnection, type RawResponse } from './helpers/raw-http.ts';
import { probeApp, startService, tempDir, type RunningService, type StartOptions } from './helpers/service.ts';
import { runCli } from './helpers/cli.ts';
import { freePort, startServe } from './helpers/serve-process.ts';

const tenants = `tenants:
  - schema: acme
    hosts: [acme.test, www.acme.test]
  - schema: globex
    hosts: [globex.test]
  - schema: initech
    hosts: [initech.test]
`;

interface TlsService extends RunningService {
  tlsPort: number;
  ca: TestCa;
}

/** acme (a certificate for acme.test and *.acme.test), globex (its own), initech (none). */
async function startTls(t: TestContext, extra = '', options: StartOptions = {}): Promise<TlsService> {
  const ca = makeCa(tempDir(t));
  const acme = ca.issue('acme', ['acme.test', '*.acme.test']);
  const globex = ca.issue('globex', ['globex.test']);
  const files: Record<string, string> = {};
  for (const file of [acme.cert, acme.key, globex.cert, globex.key]) files[`certs/${file}`] = readFileSync(path.join(ca.folder, file), 'utf8');
  const yaml = `app: ${probeApp}
tls:
  listen: 127.0.0.1:0
  handshakeTimeout: 1s
  certificates:
    - cert: certs/acme.pem
      key: certs/acme.key
    - cert: certs/globex.pem
      key: certs/globex.key
${extra}${tenants}`;
  const s = await startService(t, yaml, { ...options, files: { ...files, ...options.files } });
  return { ...s, tlsPort: s.service.tlsAddress.port, ca };
}

interface TlsReply {
  response: RawResponse | undefined;
  /** The certificate's subject CN, as the client saw it. */
  subject: string | undefined;
  reused: boolean;
  session: Buffer | undefined;
  error: (Error & { code?: string }) | undefined;
}

/** One HTTPS request (its own connection, Connection: close), with Node's TLS client. */
function httpsRequest(port: number, options: { servername?: string; host: string; path?: string; ca?: string; session?: Buffer }): Promise<TlsReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let session: Buffer | undefined;
    let subject: string | undefined;
    let reused = false;
    const socket = tls.connect({
      port, host: '127.0.0.1', ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
      ...(options.session ? { session: options.session } : {}),
      ALPNProtocols: ['http/1.1'],
    }, () => {
      subject = socket.getPeerCertificate().subject?.CN as string | undefined;
      reused = socket.isSessionReused();
      socket.write(`GET ${options.path ?? '/whoami'} HTTP/1.1\r\nHost: ${options.host}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('session', (s) => { session = s; });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => resolve({ response: undefined, subject, reused, session, error }));
    socket.on('close', () => {
      const { responses } = parseResponses(Buffer.concat(chunks), true);
      resolve({ response: responses[0], subject, reused, session, error: undefined });
    });
  });
}

/** The bytes of a real ClientHello (Node's TLS client), caught by a plain TCP server. */
async function captureHello(servername: string | undefined): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const caught = new Promise<Buffer>((resolve) => server.once('connection', (socket) => {
    let bytes = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      bytes = Buffer.concat([bytes, chunk]);
      if (scanClientHello(bytes).kind !== 'partial') {
        resolve(bytes);
        socket.destroy();
      }
    });
  }));
  tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false }).on('error', () => {});
  const hello = await caught;
  server.close();
  return hello;
}

/** Sends `chunks` to the TLS port one by one; resolves with what came back before the close (or `wait` ms). */
function rawTls(port: number, chunks: Buffer[], options: { gapMs?: number; wait?: number } = {}): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    const done = () => resolve({ bytes: Buffer.concat(got), closed });
    const timer = setTimeout(() => { socket.destroy(); done(); }, options.wait ?? 3000);
    socket.on('data', (chunk) => got.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => { closed = true; clearTimeout(timer); done(); });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) break;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    });
  });
}

/** curl, run without blocking this process (the service's primary runs in it). */
function curl(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const workerPids = (s: RunningService) => s.service.status().flatMap((site) => site.workers.map((w) => w.pid));

test('HTTPS is served by the tenant\'s own worker with its own certificate; curl verifies it by name; X-Forwarded-Proto is https', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const acme = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test', ca: s.ca.ca });
  assert.equal(acme.error, undefined);
  assert.equal(acme.subject, 'acme.test');
  assert.equal(acme.response?.status, 200);
  const whoami = acme.response!.json();
  assert.equal(whoami.schema, 'acme');
  assert.ok(s.service.status().find((x) => x.schema === 'acme')!.workers.some((w) => w.pid === whoami.pid), 'an acme worker terminated it');
  // A name its wildcard covers.
  const www = await httpsRequest(s.tlsPort, { servername: 'www.acme.test', host: 'www.acme.test', ca: s.ca.ca });
  assert.equal(www.response?.json().schema, 'acme');
  const globex = await httpsRequest(s.tlsPort, { servername: 'globex.test', host: 'globex.test', ca: s.ca.ca, path: '/headers' });
  assert.equal(globex.subject, 'globex.test');
  assert.equal(globex.response?.json()['x-forwarded-proto'], 'https');
  // curl, verifying the chain and the name.
  const verified = await curl(['-sS', '--cacert', s.ca.caFile, '--resolve', `acme.test:${s.tlsPort}:127.0.0.1`, `https://acme.test:${s.tlsPort}/whoami`]);
  assert.equal(verified.status, 0, verified.stderr);
  assert.equal(JSON.parse(verified.stdout).schema, 'acme');
  // Kept alive: three requests on one connection (curl reuses it), all served.
  const many = await curl(['-sS', '--cacert', s.ca.caFile, '--resolve', `globex.test:${s.tlsPort}:127.0.0.1`,
    `https://globex.test:${s.tlsPort}/whoami`, `https://globex.test:${s.tlsPort}/whoami`, `https://globex.test:${s.tlsPort}/whoami`, '-w', '\n%{num_connects}\n']);
  assert.equal(many.status, 0, many.stderr);
  assert.equal(many.stdout.match(/"schema":"globex"/g)?.length, 3);
  assert.deepEqual(many.stdout.match(/^\d+$/gm)?.map(Number), [1, 0, 0], 'one connection for the three');
});

test('a request whose Host is not a host of the SNI\'s tenant gets 421; the connection\'s own tenant is never bypassed', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const crossed = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'globex.test', ca: s.ca.ca, path: '/whoami' });
  assert.equal(crossed.response?.status, 421);
  assert.match(crossed.response!.body.toString(), /^421 /);
  // Another host of the same tenant is that tenant's.
  const same = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'www.acme.test', ca: s.ca.ca });
  assert.equal(same.response?.json().schema, 'acme');
});

test('no server name or an unknown one: an unrecognized_name alert, no certificate; a tenant host without a certificate: a handshake failure; tls.defaultTenant answers them after a reload', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const none = await httpsRequest(s.tlsPort, { host: 'acme.test' });
  assert.match(String(none.error?.message), /unrecognized name/i);
  assert.equal(none.subject, undefined);
  const unknown = await httpsRequest(s.tlsPort, { servername: 'nobody.test', host: 'nobody.test' });
  assert.match(String(unknown.error?.message), /unrecognized name/i);
  const initech = await httpsRequest(s.tlsPort, { servername: 'initech.test', host: 'initech.test' });
  assert.match(String(initech.error?.message), /handshake failure/i);
  // The other tenants are unaffected.
  assert.equal((await httpsRequest(s.tlsPort, { servername: 'globex.test', host: 'globex.test' })).response?.status, 200);

  writeFileSync(s.configFile, readFileSync(s.configFile, 'utf8').replace('  handshakeTimeout: 1s\n', '  handshakeTimeout: 1s\n  defaultTenant: acme\n'));
  const reloaded = await s.service.reload();
  assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
  const fallback = await httpsRequest(s.tlsPort, { host: 'acme.test' });
  assert.equal(fallback.subject, 'acme.test');
  assert.equal(fallback.response?.json().schema, 'acme');
});

test('plain HTTP sent to the TLS port gets 400 with a one-line body', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const { bytes, closed } = await rawTls(s.tlsPort, [Buffer.from('GET / HTTP/1.1\r\nHost: acme.test\r\n\r\n')]);
  const { responses } = parseResponses(bytes, true);
  assert.equal(responses[0]?.status, 400);
  assert.equal(responses[0]!.body.toString(), '400 this port speaks HTTPS: use an https:// address\n');
  assert.ok(closed);
});

test('a session from one tenant does not resume on another (its own keys), and resumes on its own', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const first = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test', ca: s.ca.ca });
  assert.ok(first.session, 'a ticket was issued');
  const again = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test', ca: s.ca.ca, session: first.session! });
  assert.equal(again.reused, true, 'the ticket resumes on its own tenant');
  const elsewhere = await httpsRequest(s.tlsPort, { servername: 'globex.test', host: 'globex.test', ca: s.ca.ca, session: first.session! });
  assert.equal(elsewhere.reused, false, 'a ticket of acme resumes nothing at globex');
  assert.equal(elsewhere.subject, 'globex.test', 'globex answered with its own certificate');
  assert.equal(elsewhere.response?.json().schema, 'globex');
});

test('ClientHellos split byte by byte, over two records, truncated, oversized or never finished: served or closed, and no worker or primary exits', { timeout: 90_000 }, async (t) => {
  const s = await startTls(t);
  const pids = workerPids(s);
  const hello = await captureHello('acme.test');
  // Byte by byte: the server's reply (a handshake record) comes back.
  const split = await rawTls(s.tlsPort, [...hello].map((b) => Buffer.from([b])), { gapMs: 1, wait: 2000 });
  assert.equal(split.bytes[0], 0x16, 'a ServerHello after a ClientHello sent byte by byte');
  // The same handshake message over two records.
  const body = hello.subarray(5);
  const cut = Math.floor(body.length / 2);
  const record = (part: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 255]), part]);
  const two = await rawTls(s.tlsPort, [record(body.subarray(0, cut)), record(body.subarray(cut))], { wait: 2000 });
  assert.equal(two.bytes[0], 0x16, 'a ServerHello after a ClientHello over two records');
  // Truncated, then nothing more: closed within the handshake timeout (1 s).
  const started = performance.now();
  const truncated = await rawTls(s.tlsPort, [hello.subarray(0, 40)], { wait: 5000 });
  assert.ok(truncated.closed && performance.now() - started < 4500, 'a truncated ClientHello is closed after the handshake timeout');
  // A whole ClientHello, then silence: the worker's handshake timeout closes it.
  const stalled = await rawTls(s.tlsPort, [hello], { wait: 5000 });
  assert.ok(stalled.closed, 'a handshake that never finishes is closed');
  // Oversized: records past 16 KB with no end of the handshake message.
  const huge = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00]), Buffer.alloc(16_384 - 4, 1), Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), Buffer.alloc(16_384, 1)]);
  const oversized = await rawTls(s.tlsPort, [huge], { wait: 3000 });
  assert.ok(oversized.closed && oversized.bytes.length === 0, 'an oversized ClientHello is closed with nothing sent');
  // Garbage and an IP as the name.
  assert.ok((await rawTls(s.tlsPort, [Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])], { wait: 3000 })).closed);
  const ip = await httpsRequest(s.tlsPort, { servername: '127.0.0.1', host: 'acme.test' });
  assert.ok(ip.error, 'an IP is no server name: unrecognized');
  assert.deepEqual(workerPids(s), pids, 'no worker was replaced');
  assert.equal((await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test' })).response?.status, 200);
});

test('each worker is sent its own tenant\'s certificates and ticket keys, never another\'s', { timeout: 60_000 }, async (t) => {
  const sent: { schema: string; message: PrimaryMessage }[] = [];
  const fork = (): WorkerHandle => {
    const handle = clusterFork();
    let schema = '';
    const send = handle.send.bind(handle);
    handle.send = ((message: PrimaryMessage, ...rest: unknown[]) => {
      if (message.type === 'start') schema = message.tenant.schema;
      if (message.type === 'start' || message.type === 'tls') sent.push({ schema, message });
      return (send as (...args: unknown[]) => unknown)(message, ...rest);
    }) as WorkerHandle['send'];
    return handle;
  };
  const s = await startTls(t, '', { fork });
  await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test' });
  const names = (pem: string) => new X509Certificate(pem).subjectAltName;
  const keys = new Map<string, string>();
  for (const { schema, message } of sent) {
    const config = message.type === 'start' ? message.tls : message.type === 'tls' ? message.tls : undefined;
    assert.ok(config, `${schema} got its TLS settings`);
    const sans = config.certificates.map((c) => names(c.cert));
    if (schema === 'acme') assert.deepEqual(sans, ['DNS:acme.test, DNS:*.acme.test']);
    if (schema === 'globex') assert.deepEqual(sans, ['DNS:globex.test']);
    if (schema === 'initech') assert.deepEqual(sans, []);
    for (const c of config.certificates) assert.ok(!c.key.includes(readFileSync(path.join(s.dir, 'certs', schema === 'acme' ? 'globex.key' : 'acme.key'), 'utf8').trim()), 'another tenant\'s key');
    keys.set(schema, config.ticketKeys);
  }
  assert.deepEqual([...keys.keys()].sort(), ['acme', 'globex', 'initech']);
  assert.equal(new Set(keys.values()).size, 3, 'ticket keys differ by tenant');
});

test('a reload picks up a changed certificate file; a bad file is a rejected reload naming it, and the running certificate stays', { timeout: 60_000 }, async (t) => {
  const s = await startTls(t);
  const before = await httpsRequest(s.tlsPort, { servername: 'globex.test', host: 'globex.test', ca: s.ca.ca });
  const serialOf = () => new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ port: s.tlsPort, host: '127.0.0.1', servername: 'globex.test', ca: s.ca.ca }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on('error', reject);
  });
  assert.equal(before.response?.status, 200);
  const first = await serialOf();
  // Renewed: a new certificate for the same name, written over the files.
  const renewed = s.ca.issue('globex2', ['globex.test']);
  writeFileSync(path.join(s.dir, 'certs', 'globex.pem'), readFileSync(path.join(s.ca.folder, renewed.cert)));
  writeFileSync(path.join(s.dir, 'certs', 'globex.key'), readFileSync(path.join(s.ca.folder, renewed.key)));
  assert.equal((await s.service.reload()).ok, true);
  const second = await serialOf();
  assert.notEqual(second, first, 'the renewed certificate is served');
  // A key that is not the certificate's: refused, naming the file.
  writeFileSync(path.join(s.dir, 'certs', 'globex.key'), readFileSync(path.join(s.dir, 'certs', 'acme.key')));
  const refused = await s.service.reload();
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.error, /^TENANTD_CERTIFICATE_INVALID: tls\.certificates: .*globex\.key: not the key of .*globex\.pem$/);
  assert.equal(await serialOf(), second, 'the running certificate stays');
});

test('/status, /metrics and tenantd certs list show each host\'s certificate and expiry, and the hosts without one', { timeout: 90_000 }, async (t) => {
  const s = await startTls(t);
  const acme = s.service.status().find((x) => x.schema === 'acme')!;
  const expected = new X509Certificate(readFileSync(path.join(s.dir, 'certs', 'acme.pem'))).validTo;
  assert.deepEqual(acme.certificates, [
    { host: 'acme.test', file: path.join(s.dir, 'certs', 'acme.pem'), expires: new Date(expected).toISOString() },
    { host: 'www.acme.test', file: path.join(s.dir, 'certs', 'acme.pem'), expires: new Date(expected).toISOString() },
  ]);
  assert.deepEqual(s.service.status().find((x) => x.schema === 'initech')!.certificates, [{ host: 'initech.test', file: null, expires: null }]);
  const metrics = s.service.metricsText();
  assert.match(metrics, new RegExp(`^tenantd_certificate_expiry_timestamp_seconds\\{host="acme\\.test"\\} ${Math.floor(Date.parse(expected) / 1000)}$`, 'm'));
  assert.doesNotMatch(metrics, /tenantd_certificate_expiry_timestamp_seconds\{host="initech\.test"\}/);

  // The command, against a service in its own process.
  const tlsPort = await freePort();
  const served = await startServe(t, {
    yaml: `app: ${probeApp}\ntls:\n  listen: 127.0.0.1:${tlsPort}\n  certificates:\n    - cert: certs/acme.pem\n      key: certs/acme.key\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: initech\n    hosts: [initech.test]\n`,
    files: { 'certs/acme.pem': readFileSync(path.join(s.dir, 'certs', 'acme.pem'), 'utf8'), 'certs/acme.key': readFileSync(path.join(s.dir, 'certs', 'acme.key'), 'utf8') },
  });
  const listed = await runCli(['certs', 'list', '-c', served.configFile]);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n');
  assert.match(lines[0]!, /^HOST\s+TENANT\s+EXPIRES\s+CERTIFICATE$/);
  assert.match(lines.find((l) => l.startsWith('acme.test'))!, /^acme\.test\s+acme\s+\d{4}-\d\d-\d\d \(29 days\)\s+.*certs\/acme\.pem$/);
  assert.match(lines.find((l) => l.startsWith('initech.test'))!, /^initech\.test\s+initech\s+-\s+none: its HTTPS handshakes are refused$/);
});

test('plain HTTP for a host with a certificate gets 308 to https:// on every path (but ACME challenges, opted-out tenants, hosts without one, and what a trusted front says came over HTTPS); tls.hsts adds Strict-Transport-Security', { timeout: 90_000 }, async (t) => {
  const s = await startTls(t, '  hsts: 365d\n  redirectExcept: [globex]\nrouter:\n  trustedProxies: [127.0.0.1]\n');
  // From an untrusted client (127.0.0.2): the router answers the first request of a connection.
  const first = new RawConnection(s.port, { localAddress: '127.0.0.2' });
  const moved = await first.get('acme.test', '/whoami?x=1');
  assert.equal(moved.status, 308);
  assert.equal(moved.headers.location, `https://acme.test:${s.tlsPort}/whoami?x=1`);
  first.close();
  // The worker answers later requests of a handed-off connection: an ACME challenge path is not redirected, the next request is.
  const kept = new RawConnection(s.port, { localAddress: '127.0.0.2' });
  assert.notEqual((await kept.get('www.acme.test', '/.well-known/acme-challenge/token')).status, 308);
  const later = await kept.get('www.acme.test', '/whoami');
  assert.equal(later.status, 308);
  assert.equal(later.headers.location, `https://www.acme.test:${s.tlsPort}/whoami`);
  kept.close();
  // One-request connections, and the proxy path (an absolute-form target).
  const oneShot = await exchange(s.port, 'GET /whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.2' });
  assert.equal(oneShot.responses()[0]?.status, 308);
  const absolute = await exchange(s.port, 'GET http://acme.test/whoami HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.2' });
  assert.equal(absolute.responses()[0]?.status, 308);
  // Opted out, and a host no certificate covers: served.
  for (const [host, schema] of [['globex.test', 'globex'], ['initech.test', 'initech']]) {
    const plain = new RawConnection(s.port, { localAddress: '127.0.0.2' });
    assert.equal((await plain.get(host!, '/whoami')).json().schema, schema);
    plain.close();
  }
  // A trusted front that terminated TLS: served, as it says.
  const front = new RawConnection(s.port);
  assert.equal((await front.get('acme.test', '/whoami', 'X-Forwarded-Proto: https\r\n')).json().schema, 'acme');
  assert.equal((await front.get('acme.test', '/whoami')).status, 308, 'and redirected when it says plain HTTP');
  front.close();
  // Over HTTPS: HSTS.
  const secure = await httpsRequest(s.tlsPort, { servername: 'acme.test', host: 'acme.test', ca: s.ca.ca });
  assert.equal(secure.response?.headers['strict-transport-security'], 'max-age=31536000');
});
