// npm run bench (its second part): HTTPS and fronts, side by side, the paths
// taking turns on each measure (BENCH_ROUNDS rounds; each ratio the median of
// the rounds' own ratios), on an embedded PostgreSQL with the demo app.
//  1. HTTPS kept alive (50 connections): tenantd terminating TLS in the
//     tenant's worker, against nginx terminating TLS in front of that worker,
//     and against a bare Node HTTPS server giving the same answer.
//  2. New TLS connections per second (a full handshake each, wrk with
//     Connection: close), and resumed ones (openssl s_time -reuse), the same two.
//  3. A front whose kept-alive connections carry several tenants' requests:
//     nginx (upstream keepalive) in front of tenantd, requests alternating
//     between 2 and between 100 tenants, against nginx routing by Host straight
//     to the workers' ports (the seed stack's own layout); tenantd with and
//     without the front in router.trustedProxies.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/base/free-port.ts';
import { nginxConfig } from '../test/helpers/nginx-config.ts';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { haveNginx } from './nginx.ts';
import { startTenantd, type TenantdProcess } from './tenantd-process.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const manyTenants = Number(process.env.BENCH_FRONT_TENANTS ?? 100);
const haveWrk = spawnSync('wrk', ['--version']).error === undefined;
if (!haveWrk || !haveNginx) {
  console.log('\nfronts: skipped (needs wrk and nginx: apt-get install wrk nginx-light)');
  process.exit(0);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-fronts-'));
chmodSync(dir, 0o711);
const children: ChildProcess[] = [];
let service: TenantdProcess | undefined;
const server = await EmbeddedServer.start({ dataDir: path.join(dir, 'data') });

/** wrk's requests per second; `script`: a Lua file choosing each request's Host. */
function wrk(url: string, options: { connections: number; host?: string; close?: boolean; script?: string }): number {
  const args = ['-t1', `-c${options.connections}`, `-d${seconds}s`];
  if (options.host) args.push('-H', `Host: ${options.host}`);
  if (options.close) args.push('-H', 'Connection: close');
  if (options.script) args.push('-s', options.script);
  const out = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (errors && Number(errors[1]) > 0) throw new Error(`wrk ${url}: ${errors[1]} failed responses\n${out}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
}

/** openssl s_time: connections per second, one at a time; `reuse`: each resumes the first session. */
function sTime(port: number, reuse: boolean): number {
  const out = execFileSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, reuse ? '-reuse' : '-new', '-time', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const match = /(\d+) connections in ([\d.]+)s; ([\d.]+) connections\/user sec/.exec(out) ?? /(\d+) connections in (\d+) real seconds/.exec(out);
  return match ? Number(match[1]) / Number(match[2]) : Number.NaN;
}

async function until(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** nginx with `http` (the body of its http block). */
async function nginx(name: string, http: string, port: number): Promise<void> {
  const prefix = path.join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConfig(prefix, http));
  children.push(spawn('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] }));
  await until(port);
}

const proxied = `
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`;

/** The median. */
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Takes `rounds` turns over the paths of one measure; returns each path's median and each compared pair's median ratio. */
function turns(measure: string, paths: [string, () => number][]): Map<string, number[]> {
  const runs = new Map<string, number[]>(paths.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) for (const [name, run] of paths) runs.get(name)!.push(run());
  console.log(`  ${measure}`);
  for (const [name, values] of runs) console.log(`    ${name.padEnd(58)} ${median(values).toFixed(0).padStart(8)}`);
  return runs;
}

function ratio(runs: Map<string, number[]>, a: string, b: string): string {
  const x = runs.get(a)!;
  const y = runs.get(b)!;
  return `${median(x.map((v, i) => v / y[i]!)).toFixed(2)}×`;
}

try {
  // Certificates: a CA and one for every tenant's host.
  const certs = path.join(dir, 'certs');
  mkdirSync(certs);
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3', '-subj', '/CN=bench CA']);
  writeFileSync(path.join(certs, 'ext'), 'subjectAltName=DNS:*.localhost\n');
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'site.key', '-out', 'site.csr', '-subj', '/CN=*.localhost']);
  ssl(['x509', '-req', '-in', 'site.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'site.pem', '-days', '3', '-extfile', 'ext']);

  const schemas = Array.from({ length: manyTenants }, (_, i) => (i === 0 ? 'acme' : `t${i}`));
  const [listen, tlsPort, admin] = [await freePort(), await freePort(), await freePort()];
  const configFile = path.join(dir, 'tenantd.yaml');
  const writeConfig = (trusted: boolean) => writeFileSync(configFile, `listen: 127.0.0.1:${listen}
admin: 127.0.0.1:${admin}
database:
  url: ${server.url}
router:
  maxConnectionsPerClient: 0
${trusted ? '  trustedProxies: [127.0.0.1]\n' : ''}tls:
  listen: 127.0.0.1:${tlsPort}
  defaultTenant: acme
  # The plain listener serves the fronts measured below, as it is: no redirect.
  redirect: false
  certificates:
    - cert: ${certs}/site.pem
      key: ${certs}/site.key
log:
  level: warn
  access: false
workers:
  min: 1
tenants:
${schemas.map((s) => `  - schema: ${s}\n    hosts: [${s}.localhost]\n`).join('')}`);
  writeConfig(true);
  service = await startTenantd(configFile, admin);
  const status = await service.status();
  const portOf = (schema: string) => status.find((s) => s.schema === schema)!.workers[0]!.port!;
  const workerPort = portOf('acme');
  console.log(`\ntenantd bench, fronts: ${seconds}s per run, ${rounds} rounds, Node ${process.version}, ${os.cpus().length} cores, wrk -t1, ${manyTenants} tenants`);

  // nginx terminating TLS in front of acme's worker.
  const nginxTls = await freePort();
  await nginx('nginx-tls', `
  upstream worker { server 127.0.0.1:${workerPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${nginxTls} ssl;
    ssl_certificate ${certs}/site.pem;
    ssl_certificate_key ${certs}/site.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    keepalive_requests 1000000;
    location / { proxy_pass http://worker;${proxied} }
  }`, nginxTls);

  // A bare Node HTTPS server answering what the demo answers: the floor of TLS in Node.
  const directTls = await freePort();
  children.push(spawn(process.execPath, [path.join(import.meta.dirname, 'https-direct.mjs'), `${certs}/site.pem`, `${certs}/site.key`, String(directTls)], { stdio: 'inherit' }));
  await until(directTls);

  const https = turns('HTTPS kept alive, 50 connections, GET /api/tenant (req/s)', [
    ['tenantd (TLS in the tenant\'s worker)', () => wrk(`https://127.0.0.1:${tlsPort}/api/tenant`, { connections: 50, host: 'acme.localhost' })],
    ['nginx terminating TLS in front of the worker', () => wrk(`https://127.0.0.1:${nginxTls}/api/tenant`, { connections: 50, host: 'acme.localhost' })],
    ['a bare Node HTTPS server, the same answer', () => wrk(`https://127.0.0.1:${directTls}/api/tenant`, { connections: 50, host: 'acme.localhost' })],
  ]);
  console.log(`    tenantd / nginx: ${ratio(https, 'tenantd (TLS in the tenant\'s worker)', 'nginx terminating TLS in front of the worker')}`);
  console.log(`    tenantd / bare Node HTTPS: ${ratio(https, 'tenantd (TLS in the tenant\'s worker)', 'a bare Node HTTPS server, the same answer')}`);

  const fresh = turns('new TLS connections, a full handshake each (wrk, Connection: close, 20 connections; conn/s)', [
    ['tenantd', () => wrk(`https://127.0.0.1:${tlsPort}/api/tenant`, { connections: 20, host: 'acme.localhost', close: true })],
    ['nginx', () => wrk(`https://127.0.0.1:${nginxTls}/api/tenant`, { connections: 20, host: 'acme.localhost', close: true })],
  ]);
  console.log(`    tenantd / nginx: ${ratio(fresh, 'tenantd', 'nginx')}`);
  const resumed = turns('resumed TLS connections, one at a time (openssl s_time -reuse; conn/s)', [
    ['tenantd', () => sTime(tlsPort, true)],
    ['nginx', () => sTime(nginxTls, true)],
  ]);
  console.log(`    tenantd / nginx: ${ratio(resumed, 'tenantd', 'nginx')}`);

  // Fronts whose pooled connections carry several tenants.
  const frontPort = await freePort();
  const directPort = await freePort();
  await nginx('nginx-front', `
  upstream tenantd { server 127.0.0.1:${listen}; keepalive 256; }
  server { listen 127.0.0.1:${frontPort}; keepalive_requests 1000000; location / { proxy_pass http://tenantd;${proxied} } }`, frontPort);
  await nginx('nginx-direct', `
${schemas.map((s) => `  upstream w_${s} { server 127.0.0.1:${portOf(s)}; keepalive 16; }`).join('\n')}
  map $host $tenant_upstream {
${schemas.map((s) => `    ${s}.localhost w_${s};`).join('\n')}
  }
  server { listen 127.0.0.1:${directPort}; keepalive_requests 1000000; location / { proxy_pass http://$tenant_upstream;${proxied} } }`, directPort);
  for (const count of [2, manyTenants]) {
    const script = path.join(dir, `hosts-${count}.lua`);
    writeFileSync(script, `local hosts = { ${schemas.slice(0, count).map((s) => `"${s}.localhost"`).join(', ')} }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/tenant", { Host = hosts[(i % #hosts) + 1] })
end
`);
    const runs = turns(`a front's kept-alive connections, requests alternating between ${count} tenants, 50 connections (req/s)`, [
      ['nginx → tenantd (the front trusted: request by request)', () => wrk(`http://127.0.0.1:${frontPort}/`, { connections: 50, script })],
      ['nginx routing by Host straight to the workers', () => wrk(`http://127.0.0.1:${directPort}/`, { connections: 50, script })],
    ]);
    console.log(`    tenantd / nginx to the workers: ${ratio(runs, 'nginx → tenantd (the front trusted: request by request)', 'nginx routing by Host straight to the workers')}`);
  }
  // The same front, not in trustedProxies: the hand-off closes each connection at a tenant switch.
  writeConfig(false);
  await service.reload();
  const script2 = path.join(dir, 'hosts-2.lua');
  const untrusted = turns('the same, 2 tenants, the front not in router.trustedProxies (req/s)', [
    ['nginx → tenantd (hand-off; closed at each switch)', () => wrk(`http://127.0.0.1:${frontPort}/`, { connections: 50, script: script2 })],
    ['nginx routing by Host straight to the workers', () => wrk(`http://127.0.0.1:${directPort}/`, { connections: 50, script: script2 })],
  ]);
  console.log(`    tenantd / nginx to the workers: ${ratio(untrusted, 'nginx → tenantd (hand-off; closed at each switch)', 'nginx routing by Host straight to the workers')}`);
} finally {
  for (const child of children) child.kill('SIGQUIT');
  await service?.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
