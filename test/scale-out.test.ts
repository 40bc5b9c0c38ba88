// Several tenantd nodes behind a real balancer: Debian's HAProxy with the
// shipped example config (examples/haproxy/haproxy.cfg), its addresses and
// token replaced, nothing else. Two nodes on one database and one credentials
// secret; HAProxy health-checks each node's /readyz. One node is killed with
// -9 under load: only requests in flight on it may fail (the config retries
// GETs on the other node, so none should), and the other node serves the
// rest, over HTTP (layer 7) and HTTPS passed through (layer 4, the PROXY
// protocol).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';
import tls from 'node:tls';
import { makeCa } from './helpers/certificates.ts';
import { eventually } from './helpers/http.ts';
import { parseResponses } from './helpers/raw-http.ts';
import { freePort, startServe, type ServeProcess } from './helpers/serve-process.ts';
import { probeApp, tempDir } from './helpers/service.ts';
import { front } from './helpers/front-process.ts';

const required = process.env.TENANTD_REQUIRE_BROWSER === '1';
const haveHaproxy = spawnSync('haproxy', ['-v']).error === undefined;
const shipped = path.resolve(import.meta.dirname, '..', 'examples', 'haproxy', 'haproxy.cfg');
const token = 'a-token-for-the-balancer-checks';

/** GET /whoami through `port` for globex.test (no certificate: served over plain HTTP) on a kept-alive agent: the worker's pid, or the failure. */
function whoami(port: number, agent: http.Agent): Promise<{ pid: number } | { failed: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/whoami', agent, headers: { host: 'globex.test' }, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        const pid = res.statusCode === 200 ? (JSON.parse(body) as { pid?: number }).pid : undefined;
        resolve(pid !== undefined ? { pid } : { failed: `${res.statusCode} ${body.slice(0, 200)}` });
      });
      res.on('error', (error) => resolve({ failed: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ failed: error.message }));
  });
}

/** GET /headers over HTTPS through `port`, from 127.0.0.2, verified against `ca`: the certificate's name and what the application saw. */
function httpsHeaders(port: number, ca: string): Promise<{ subject: string; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let subject = '';
    const tcp = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    const socket = tls.connect({ socket: tcp, servername: 'acme.test', ca }, () => {
      subject = socket.getPeerCertificate().subject.CN as string;
      socket.write('GET /headers HTTP/1.1\r\nHost: acme.test\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve({ subject, headers: parseResponses(Buffer.concat(chunks), true).responses[0]!.json() as Record<string, string> }));
  });
}

test('two nodes behind HAProxy with the shipped config: health-checked on /readyz, one killed with -9 under load loses only its requests in flight, the other serves HTTP and passed-through HTTPS', { timeout: 120_000, skip: !required && !haveHaproxy && 'haproxy is not installed (apt-get install haproxy)' }, async (t) => {
  const ca = makeCa(tempDir(t));
  const cert = ca.issue('acme', ['acme.test']);
  const shared = tempDir(t);
  const secretFile = path.join(shared, 'credentials.secret');
  writeFileSync(secretFile, 'the secret both nodes share, long enough\n', { mode: 0o600 });
  const files: Record<string, string> = {};
  for (const file of [cert.cert, cert.key]) files[`certs/${file}`] = readFileSync(path.join(ca.folder, file), 'utf8');
  const node = async (db?: ServeProcess['db']) => {
    const tlsPort = await freePort();
    const s = await startServe(t, {
      yaml: `  secretFile: ${secretFile}\napp: ${probeApp}\nadminToken: ${token}\nrouter:\n  trustedProxies: [127.0.0.1]\ntls:\n  listen: 127.0.0.1:${tlsPort}\n  publicPort: 443\n  certificates:\n    - cert: certs/acme.pem\n      key: certs/acme.key\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n`,
      files,
      ...(db ? { db } : {}),
    });
    return { s, tlsPort };
  };
  const one = await node();
  const two = await node(one.s.db);

  // The shipped config, its addresses and token replaced.
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  let config = readFileSync(shipped, 'utf8')
    .replaceAll('CHANGE-ME-TO-THE-ADMIN-TOKEN', token)
    .replace('bind :80\n', `bind 127.0.0.1:${httpPort}\n`)
    .replace('bind :443\n', `bind 127.0.0.1:${httpsPort}\n`);
  for (const [address, n] of [['10.0.0.11', one], ['10.0.0.12', two]] as const) {
    config = config
      .replace(`${address}:8080 check port 9080`, `127.0.0.1:${n.s.port} check port ${n.s.adminPort}`)
      .replace(`${address}:8443 check port 9080`, `127.0.0.1:${n.tlsPort} check port ${n.s.adminPort}`);
  }
  assert.doesNotMatch(config.split('\n').filter((line) => !line.startsWith('#')).join('\n'), /10\.0\.0\.|CHANGE-ME|bind :/, 'every address of the example replaced');
  const file = path.join(tempDir(t), 'haproxy.cfg');
  writeFileSync(file, config);
  await front(t, 'haproxy', ['-f', file, '-db'], httpPort);

  // Both nodes in rotation: their workers both answer.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  const pids = new Set<number>();
  let last = '';
  await eventually(async () => {
    const reply = await whoami(httpPort, new http.Agent());
    if ('pid' in reply) pids.add(reply.pid);
    else last = reply.failed;
    return pids.size === 2 ? true : undefined;
  }, 20_000, 'both nodes serving through HAProxy').catch((error: Error) => {
    throw new Error(`${error.message}: workers seen ${[...pids].join(', ') || 'none'}; last failure ${last || 'none'}`);
  });
  // A host with a certificate, over plain HTTP: redirected to HTTPS on the balancer's port (tls.publicPort).
  const redirected = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: httpPort, path: '/whoami', headers: { host: 'acme.test', 'x-forwarded-proto': 'https' } }, (res) => { res.resume(); resolve(res); }).on('error', reject);
  });
  assert.equal(redirected.statusCode, 308, 'a client\'s own X-Forwarded-Proto is replaced by HAProxy');
  assert.equal(redirected.headers.location, 'https://acme.test/whoami');
  // Layer 4: TLS ends in the tenant's worker; the client's address comes by the PROXY protocol.
  const before = await httpsHeaders(httpsPort, ca.ca);
  assert.equal(before.subject, 'acme.test');
  assert.equal(before.headers['x-forwarded-for'], '127.0.0.2');

  // Eight clients, kept alive; the first node killed with -9 a second in.
  const outcomes: { at: number; ok: boolean; pid?: number; failed?: string }[] = [];
  let running = true;
  const started = Date.now();
  const clients = Array.from({ length: 8 }, async () => {
    while (running) {
      const at = Date.now() - started;
      const reply = await whoami(httpPort, agent);
      outcomes.push('pid' in reply ? { at, ok: true, pid: reply.pid } : { at, ok: false, failed: reply.failed });
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const killedAt = Date.now() - started;
  one.s.child.kill('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  running = false;
  await Promise.all(clients);

  const failures = outcomes.filter((o) => !o.ok);
  const afterKill = outcomes.filter((o) => o.at > killedAt);
  const survivors = new Set(afterKill.filter((o) => o.ok && o.at > killedAt + 3_000).map((o) => o.pid));
  t.diagnostic(`${outcomes.length} requests, ${failures.length} failed (${failures.map((f) => f.failed).join(', ')}), killed at ${killedAt} ms`);
  assert.ok(outcomes.filter((o) => o.ok && o.at < killedAt).length > 0);
  // At most one request per client was in flight on the dead node.
  assert.ok(failures.length <= 8, `${failures.length} failed requests`);
  assert.ok(failures.every((f) => f.at <= killedAt + 50), 'only requests sent before the kill failed');
  assert.ok(afterKill.filter((o) => o.ok).length > 100, 'the other node served on');
  assert.equal(survivors.size, 1, 'one node serves after the kill');
  // HTTPS passed through still works, from the surviving node.
  const after = await httpsHeaders(httpsPort, ca.ca);
  assert.equal(after.subject, 'acme.test');
  assert.equal(after.headers['x-forwarded-for'], '127.0.0.2');
});
