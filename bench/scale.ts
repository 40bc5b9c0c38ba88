// npm run bench:scale: a thousand tenants on one machine. Provisions
// SCALE_TENANTS tenants (default 1000) with `tenantd migrate`, then runs
// `tenantd serve` (a real process, on an embedded PostgreSQL) over them with
// workers.min 0 and reports, in one run: provisioning time, time to ready
// after migrate and on a restart, resident memory idle and after touching 100
// tenants, cold first-request latency over 100 tenants in turn and with 200
// cold tenants at once, `tenants list` and a no-op `migrate`; then
// SCALE_ALWAYS_ON (default 200) always-on tenants: time to ready, restarts,
// start timeouts, memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';

import os from 'node:os';
import path from 'node:path';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { freePort } from '../src/base/free-port.ts';
import { runTenantd as run } from './tenantd-process.ts';

const tenants = Number(process.env.SCALE_TENANTS ?? 1000);
const alwaysOn = Number(process.env.SCALE_ALWAYS_ON ?? 200);
const bin = path.resolve(import.meta.dirname, '../bin/tenantd.js');

const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-scale-'));
chmodSync(dir, 0o711);
const server = await EmbeddedServer.start({ dataDir: path.join(dir, 'data') });

/** Resident bytes of `pid` and all its descendants, from /proc. */
function treeResident(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const walk = (p: number) => {
    try {
      total += Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return total;
}

function get(port: number, host: string, urlPath = '/api/tenant'): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
    req.end();
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface Serving { child: ChildProcess; port: number; admin: number; ms: number; output(): string; stop(): Promise<void> }

/** Writes the config of `name` (its folder, count tenants, workers.min) on new ports. */
async function writeConfig(name: string, count: number, min: number): Promise<{ file: string; port: number; admin: number }> {
  const folder = path.join(dir, name);
  mkdirSync(path.join(folder, 'tenants.d'), { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(path.join(folder, 'tenants.d', `t${i}.yaml`), `schema: t${i}\nhosts: [t${i}.test]\n`);
  const [port, admin] = [await freePort(), await freePort()];
  writeFileSync(path.join(folder, 'tenantd.yaml'), `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:${admin}\ndatabase:\n  url: ${server.url}\n  secretFile: ${path.join(dir, 'secret')}\nlog:\n  access: false\nworkers:\n  min: ${min}\ntenantsDir: tenants.d\n`);
  return { file: path.join(folder, 'tenantd.yaml'), port, admin };
}

async function serve(name: string, count: number, min: number): Promise<Serving> {
  const { port, admin } = await writeConfig(name, count, min);
  const folder = path.join(dir, name);
  const started = performance.now();
  const child = spawn(process.execPath, [bin, 'serve', '-c', path.join(folder, 'tenantd.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c) => { output += c; });
  child.stderr!.on('data', (c) => { output += c; });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes('"msg":"tenantd serving"')) { clearInterval(timer); resolve(); }
      if (child.exitCode !== null) { clearInterval(timer); reject(new Error(output.slice(-2000))); }
    }, 20);
  });
  const ms = performance.now() - started;
  return {
    child, port, admin, ms, output: () => output,
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const line = (what: string, value: string, target = '') => console.log(`  ${what.padEnd(46)} ${value.padEnd(22)} ${target}`);
console.log(`tenantd bench:scale: ${tenants} tenants with min 0, then ${alwaysOn} always on; Node ${process.version}, ${os.availableParallelism()} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB\n`);
console.log(`  ${'measure'.padEnd(46)} ${'measured'.padEnd(22)} target`);

try {
  // 1. Provisioning by `tenantd migrate` (every schema, role and table), then
  // serve after it, then a restart: ready fast whichever command ran before.
  const { file: lazyConfig } = await writeConfig('lazy', tenants, 0);
  const provisioned = await run(['migrate', '-c', lazyConfig]);
  if (provisioned.code !== 0) throw new Error(provisioned.out.slice(-2000));
  line(`migrate: provisions ${tenants} tenants`, `${(provisioned.ms / 1000).toFixed(1)} s`, tenants >= 10_000 ? '≤ 5 min' : '');
  const first = await serve('lazy', tenants, 0);
  line('serve after migrate to ready', `${(first.ms / 1000).toFixed(1)} s`, tenants >= 10_000 ? '≤ 20 s' : '≤ 5 s');
  await first.stop();
  const lazy = await serve('lazy', tenants, 0);
  line('restart to ready (already provisioned)', `${(lazy.ms / 1000).toFixed(1)} s`, tenants >= 10_000 ? '≤ 20 s' : '≤ 5 s');
  const idle = treeResident(lazy.child.pid!);
  line('whole service resident, idle', mib(idle), tenants >= 10_000 ? '≤ 2 GB' : '≤ 1 GB');

  // 2. Cold first requests, one tenant after another.
  const cold: number[] = [];
  let errors = 0;
  for (let i = 0; i < 100; i++) {
    const reply = await get(lazy.port, `t${i}.test`);
    cold.push(reply.ms);
    if (reply.status !== 200) errors += 1;
  }
  line('cold first request, 100 tenants in turn: p50', `${percentile(cold, 0.5).toFixed(0)} ms`, '≤ 400 ms');
  line('cold first request, 100 tenants in turn: p99', `${percentile(cold, 0.99).toFixed(0)} ms`, '≤ 1 s');
  const idleStarts = [...lazy.output().matchAll(/"startMs":(\d+)/g)].map((m) => Number(m[1]));
  line('  of which worker spawn to ready, p50 (idle machine)', `${percentile(idleStarts, 0.5)} ms`, '≤ 250 ms');
  line('  errors', String(errors), '0');
  line('whole service resident, 100 tenants touched', mib(treeResident(lazy.child.pid!)));
  const warm: number[] = [];
  for (let i = 0; i < 100; i++) warm.push((await get(lazy.port, `t${i}.test`)).ms);
  line('warm request to the same 100: p50', `${percentile(warm, 0.5).toFixed(1)} ms`);

  // 3. 200 cold tenants at once.
  const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => get(lazy.port, `t${100 + i}.test`)));
  line('200 cold tenants at once: errors', String(burst.filter((r) => r.status !== 200).length), '0');
  line('  p50 / p99', `${percentile(burst.map((r) => r.ms), 0.5).toFixed(0)} / ${percentile(burst.map((r) => r.ms), 0.99).toFixed(0)} ms`);
  const status = JSON.parse(await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port: lazy.admin, path: '/status' }, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); });
  })) as { summary: { liveWorkers: number; maxLive: number } };
  line('  live workers after it (cap)', `${status.summary.liveWorkers} (${status.summary.maxLive})`);
  line('whole service resident after it', mib(treeResident(lazy.child.pid!)));

  // 4. Fleet commands.
  const config = path.join(dir, 'lazy', 'tenantd.yaml');
  const list = await run(['tenants', 'list', '-c', config]);
  line(`tenants list, ${tenants} tenants`, `${(list.ms / 1000).toFixed(2)} s (exit ${list.code})`, '≤ 3 s');
  const migrate = await run(['migrate', '-c', config]);
  line(`migrate with nothing pending, ${tenants} tenants`, `${(migrate.ms / 1000).toFixed(2)} s (exit ${migrate.code})`, '≤ 5 s');
  await lazy.stop();

  // 5. Always-on tenants.
  const eager = await serve('eager', alwaysOn, 1);
  const eagerStatus = JSON.parse(await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port: eager.admin, path: '/status' }, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); });
  })) as { tenants: { state: string; workers: { restarts: number }[] }[] };
  const restarts = eagerStatus.tenants.reduce((n, t) => n + t.workers.reduce((m, w) => m + w.restarts, 0), 0);
  line(`${alwaysOn} always-on tenants: first start to ready`, `${(eager.ms / 1000).toFixed(1)} s`, '≤ 90 s');
  line('  ready tenants', `${eagerStatus.tenants.filter((t) => t.state === 'ready').length}/${alwaysOn}`);
  line('  start timeouts / restarts', `${(eager.output().match(/not ready within/g) ?? []).length} / ${restarts}`, '0 / 0');
  line('  whole service resident', mib(treeResident(eager.child.pid!)));
  const spawnToReady = [...eager.output().matchAll(/"startMs":(\d+)/g)].map((m) => Number(m[1]));
  line('  worker spawn to ready: p50 / p99', `${percentile(spawnToReady, 0.5)} / ${percentile(spawnToReady, 0.99)} ms`, '≤ 250 ms p50');
  line('  per worker', mib(treeResident(eager.child.pid!) / (alwaysOn + 1)), '≤ 60 MB');
  await eager.stop();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
