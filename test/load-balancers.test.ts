// Real fronts, as a user puts them: Debian's HAProxy in `mode tcp` passing TLS
// through with `send-proxy-v2`, and nginx in `http` mode pooling kept-alive
// connections to tenantd whose requests name two tenants.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';
import tls from 'node:tls';
import { makeCa } from './helpers/certificates.ts';
import { nginxConfig } from './helpers/nginx-config.ts';
import { eventually, request } from './helpers/http.ts';
import { parseResponses } from './helpers/raw-http.ts';
import { freePort, startServe } from './helpers/serve-process.ts';
import { probeApp, tempDir } from './helpers/service.ts';
import { front } from './helpers/front-process.ts';

const have = (command: string, flag: string) => spawnSync(command, [flag]).error === undefined;
const required = process.env.TENANTD_REQUIRE_BROWSER === '1';

test('HAProxy in mode tcp with send-proxy-v2 in front of the TLS listener: TLS still ends in the tenant\'s worker, and the client\'s address reaches X-Forwarded-For and the access log', { timeout: 90_000, skip: !required && !have('haproxy', '-v') && 'haproxy is not installed (apt-get install haproxy)' }, async (t) => {
  const ca = makeCa(tempDir(t));
  const acme = ca.issue('acme', ['acme.test']);
  const files: Record<string, string> = {};
  for (const file of [acme.cert, acme.key]) files[`certs/${file}`] = readFileSync(path.join(ca.folder, file), 'utf8');
  const tlsPort = await freePort();
  const s = await startServe(t, {
    yaml: `app: ${probeApp}\nrouter:\n  trustedProxies: [127.0.0.1]\ntls:\n  listen: 127.0.0.1:${tlsPort}\n  certificates:\n    - cert: certs/acme.pem\n      key: certs/acme.key\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n`,
    files,
  });
  const haproxyPort = await freePort();
  const config = path.join(s.dir, 'haproxy.cfg');
  writeFileSync(config, `global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend https
    bind 127.0.0.1:${haproxyPort}
    default_backend tenantd_tls
backend tenantd_tls
    server node1 127.0.0.1:${tlsPort} send-proxy-v2
`);
  await front(t, 'haproxy', ['-f', config, '-db'], haproxyPort);
  // The client connects to HAProxy from 127.0.0.2; HAProxy connects to tenantd from 127.0.0.1.
  const reply = await new Promise<{ status: number; body: any; subject: string }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let subject = '';
    const tcp = net.connect({ port: haproxyPort, host: '127.0.0.1', localAddress: '127.0.0.2' });
    const socket = tls.connect({ socket: tcp, servername: 'acme.test', ca: ca.ca }, () => {
      subject = socket.getPeerCertificate().subject.CN as string;
      socket.write('GET /headers HTTP/1.1\r\nHost: acme.test\r\nX-Request-Id: via-haproxy\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const response = parseResponses(Buffer.concat(chunks), true).responses[0]!;
      resolve({ status: response.status, body: response.json(), subject });
    });
  });
  assert.equal(reply.subject, 'acme.test', 'acme\'s worker terminated TLS, through HAProxy');
  assert.equal(reply.status, 200);
  assert.equal(reply.body['x-forwarded-for'], '127.0.0.2', 'the client\'s address from the PROXY header, not HAProxy\'s');
  assert.equal(reply.body['x-forwarded-proto'], 'https');
  const line = await eventually(() => s.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.access?.requestId === 'via-haproxy'), 5000, 'the access line');
  assert.equal(line.access.client, '127.0.0.2');
});

test('nginx in http mode pooling kept-alive connections to tenantd: requests alternating between two tenants are each served by their own, over few connections', { timeout: 90_000, skip: !required && !have('nginx', '-v') && 'nginx is not installed (apt-get install nginx-light)' }, async (t) => {
  const s = await startServe(t, {
    yaml: `app: ${probeApp}\nrouter:\n  trustedProxies: [127.0.0.1]\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n`,
  });
  const nginxPort = await freePort();
  const prefix = tempDir(t);
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConfig(prefix, `  upstream tenantd { server 127.0.0.1:${s.port}; keepalive 8; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://tenantd;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`));
  await front(t, 'nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], nginxPort);
  /** Connections to tenantd's listener that were closed (TIME_WAIT on its side: the side that closes first keeps it), from /proc. */
  const closedAtTenantd = () => readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .filter((line) => { const f = line.trim().split(/\s+/); return f[3] === '06' && parseInt(f[1]!.split(':')[1]!, 16) === s.port; }).length;
  const before = closedAtTenantd();
  for (let i = 0; i < 40; i++) {
    const host = i % 2 === 0 ? 'acme.test' : 'globex.test';
    const seen = (await request(nginxPort, { host, path: '/whoami' })).json() as { schema: string };
    assert.equal(seen.schema, host === 'acme.test' ? 'acme' : 'globex');
  }
  // Each tenant switch on a handed-off connection would close it (about 40 here).
  assert.ok(closedAtTenantd() - before <= 2, `tenantd closed ${closedAtTenantd() - before} of nginx's connections for 40 requests`);
  const status = await (await fetch(`http://127.0.0.1:${s.adminPort}/status`)).json() as { tenants: { workers: { restarts: number }[] }[] };
  assert.ok(status.tenants.every((x) => x.workers.every((w) => w.restarts === 0)));
});
