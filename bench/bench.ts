// npm run bench: throughput of the demo's GET /api/tenant through the router
// against direct to the worker's port, and of a point query through a pinned pool
// against a pool that issues SET search_path before each query (the
// django-tenants way). Each pair runs in the same run, reported as a ratio.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { residentBytes } from '../src/admin/metrics.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { createLogger } from '../src/log/logger.ts';
import { Service } from '../src/service/service.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const load = path.join(import.meta.dirname, 'load.mjs');

function runLoad(port: number, host: string, urlPath: string): Promise<{ ok: number; failed: number; rps: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [load, String(port), host, urlPath, String(concurrency), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
  });
}

async function queryRate(pool: pg.Pool, before: string | undefined): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const lane = async () => {
    const client = await pool.connect();
    try {
      while (Date.now() < deadline) {
        if (before) await client.query(before);
        await client.query('select id, title from items where id = $1', [1 + (done % 1000)]);
        done += 1;
      }
    } finally {
      client.release();
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: 8 }, lane));
  return done / ((Date.now() - started) / 1000);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-bench-'));
// Run as root, the embedded server's user must pass through this folder.
chmodSync(dir, 0o711);
const server = await EmbeddedServer.start({ dataDir: path.join(dir, 'data') });
writeFileSync(path.join(dir, 'tenantd.yaml'), `listen: 127.0.0.1:0
database:
  url: ${server.url}
log:
  level: warn
  access: false
tenants:
  - schema: acme
    hosts: [acme.localhost]
`);
const service = new Service(loadConfig(path.join(dir, 'tenantd.yaml'), {}), { log: createLogger('warn') });
try {
  await service.start();
  const worker = service.status()[0]!.workers[0]!;
  const routerPort = service.address.port;
  console.log(`tenantd bench: ${seconds}s per run, ${concurrency} connections, Node ${process.version}, ${os.cpus().length} cores`);

  // Warm both paths, then measure direct first and the router second.
  await runLoad(worker.port!, 'acme.localhost', '/api/tenant');
  const direct = await runLoad(worker.port!, 'acme.localhost', '/api/tenant');
  const routed = await runLoad(routerPort, 'acme.localhost', '/api/tenant');
  console.log('\nGET /api/tenant');
  console.log(`  direct to the worker   ${direct.rps.toFixed(0).padStart(8)} req/s  (${direct.failed} failed)`);
  console.log(`  through the router     ${routed.rps.toFixed(0).padStart(8)} req/s  (${routed.failed} failed)`);
  console.log(`  router / direct        ${(routed.rps / direct.rps).toFixed(2).padStart(8)}×`);
  const mib = (pid: number) => ((residentBytes(pid) ?? 0) / 2 ** 20).toFixed(0);
  console.log(`  memory: primary ${mib(process.pid)} MiB, worker ${mib(worker.pid!)} MiB (RSS)`);

  const admin = new pg.Client(server.url);
  await admin.connect();
  await admin.query('create schema if not exists bench');
  await admin.query('create table if not exists bench.items (id int primary key, title text)');
  await admin.query("insert into bench.items select i, 'item ' || i from generate_series(1, 1000) i on conflict do nothing");
  await admin.end();
  const pinned = new pg.Pool({ connectionString: server.url, options: '-c search_path=bench', max: 8 });
  const switching = new pg.Pool({ connectionString: server.url, max: 8 });
  await queryRate(pinned, undefined);
  const pinnedRate = await queryRate(pinned, undefined);
  const setRate = await queryRate(switching, 'set search_path to bench');
  await pinned.end();
  await switching.end();
  console.log('\npoint query (8 connections)');
  console.log(`  SET search_path per query ${setRate.toFixed(0).padStart(8)} queries/s`);
  console.log(`  pinned at connect         ${pinnedRate.toFixed(0).padStart(8)} queries/s`);
  console.log(`  pinned / SET              ${(pinnedRate / setRate).toFixed(2).padStart(8)}×`);
} finally {
  await service.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
