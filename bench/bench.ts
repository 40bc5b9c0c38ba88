// npm run bench: the demo's GET /api/tenant and GET /api/tasks (one query)
// direct to a worker's port, through tenantd (hand-off, the default, and with
// router.handoff: false, the proxy path) and through nginx in front of the same
// worker, for keep-alive and Connection: close traffic and latency at 4
// connections, with the CPU each request costs the server's processes
// (cpu-time.ts); then a point query through a pinned pool against a pool that
// issues SET search_path before each query (the django-tenants way). Every
// comparison is a ratio within this one run. tenantd runs as `tenantd serve`
// (the bundled primary a user runs) in a child process; BENCH_PIN=1 puts the
// servers and the load on separate cores (cores.ts).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { residentBytes } from '../src/admin/metrics.ts';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { pinning } from './cores.ts';
import { cpuMicros, withChildren } from './cpu-time.ts';
import { haveWrk, runLoad, type LoadResult } from './load-runner.ts';
import { freePort } from '../src/base/free-port.ts';
import { haveNginx, startNginx, type Nginx } from './nginx.ts';
import { startTenantd, type TenantdProcess } from './tenantd-process.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const host = 'acme.localhost';

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
const configFile = path.join(dir, 'tenantd.yaml');
const routerPort = await freePort();
const adminPort = await freePort();
const writeConfig = (handoff: boolean) => writeFileSync(configFile, `listen: 127.0.0.1:${routerPort}
admin: 127.0.0.1:${adminPort}
database:
  url: ${server.url}
router:
  handoff: ${handoff}
log:
  level: warn
  access: false
tenants:
  - schema: acme
    hosts: [${host}]
`);
writeConfig(true);
let service: TenantdProcess | undefined;
let nginx: Nginx | undefined;
try {
  service = await startTenantd(configFile, adminPort);
  const worker = (await service.status())[0]!.workers[0]!;
  if (haveNginx) nginx = await startNginx(dir, worker.port!);
  console.log(`tenantd bench: ${seconds}s per run, Node ${process.version}, ${os.cpus().length} cores, load by ${haveWrk ? 'wrk -t1' : 'the built-in generator (install wrk for more headroom: apt-get install wrk)'}, ${pinning ? `servers on core ${pinning.server}, load on core ${pinning.load}` : 'not pinned to cores'}`);
  if (!haveNginx) console.log('nginx is not on the PATH: its row is skipped (apt-get install nginx-light)');
  // Seed a few tasks for GET /api/tasks.
  for (let i = 0; i < 5; i++) {
    await fetch(`http://127.0.0.1:${worker.port}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: `task ${i}` }) });
  }

  type Path = 'direct' | 'tenantd' | 'tenantd, handoff: false' | 'nginx';
  /** Each path: its port (after any reload it needs) and the server processes whose CPU a request costs. */
  const paths: [Path, () => Promise<number>, () => number[]][] = [
    ['direct', async () => worker.port!, () => [worker.pid!]],
    ['tenantd', async () => { writeConfig(true); await service!.reload(); return routerPort; }, () => withChildren(service!.child.pid!)],
    ['tenantd, handoff: false', async () => { writeConfig(false); await service!.reload(); return routerPort; }, () => withChildren(service!.child.pid!)],
    ...(nginx ? [['nginx', async () => nginx!.port, () => [...withChildren(nginx!.pid), worker.pid!]] as [Path, () => Promise<number>, () => number[]]] : []),
  ];
  const measures = [
    { name: 'keep-alive, 50 connections', path: '/api/tenant', connections: 50, close: false },
    { name: 'Connection: close, 20 connections', path: '/api/tenant', connections: 20, close: true },
    { name: 'latency, 4 connections', path: '/api/tenant', connections: 4, close: false },
    { name: 'GET /api/tasks, keep-alive, 50 connections', path: '/api/tasks', connections: 50, close: false },
  ];
  /** A run's result and the server CPU per request, µs (NaN when /proc cannot tell). */
  type Run = LoadResult & { cpu: number };
  // Each measure is taken `rounds` times, the paths taking turns on it, so that
  // the runs compared in a ratio are seconds apart: this machine's speed wanders
  // by a fifth, at times by half, from one half-minute to the next. The table
  // keeps each cell's median round; a ratio is the median of the rounds' own
  // ratios (each round's paths against each other).
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const runs = new Map<Path, Run[][]>(paths.map(([name]) => [name, measures.map(() => [])]));
  for (let round = 0; round < rounds; round++) {
    for (const [i, m] of measures.entries()) {
      for (const [name, port, pids] of paths) {
        const p = await port();
        // A second of warm-up: the tenantd paths have just been reloaded.
        await runLoad({ port: p, host, path: '/api/tenant', connections: 50, seconds: 1 });
        const processes = pids();
        const before = cpuMicros(processes);
        const result = await runLoad({ port: p, host, path: m.path, connections: m.connections, seconds, close: m.close });
        const after = cpuMicros(processes);
        const cpu = before === undefined || after === undefined ? Number.NaN : (after - before) / (result.rps * seconds);
        runs.get(name)![i]!.push({ ...result, cpu });
      }
    }
  }
  if (process.env.BENCH_VERBOSE) for (const [name, cells] of runs) console.log(name, cells.map((list) => list.map((r) => `${r.rps.toFixed(0)}@${r.cpu.toFixed(0)}µs`).join('/')).join('  '));
  const median = <K extends keyof Run>(list: Run[], key: K) => [...list].sort((a, b) => (a[key] as number) - (b[key] as number))[Math.floor(list.length / 2)]!;
  const results = new Map<Path, Run[]>([...runs].map(([name, cells]) => [name, cells.map((list, i) => median(list, i === 2 ? 'p50' : 'rps'))]));
  /** The median CPU per request of each cell (its own median: not the median throughput's round). */
  const cpu = new Map<Path, number[]>([...runs].map(([name, cells]) => [name, cells.map((list) => median(list, 'cpu').cpu)]));
  writeConfig(true);
  await service.reload();

  const num = (n: number) => n.toFixed(0).padStart(8);
  const micros = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(0)).padStart(9);
  console.log(`\n${'path'.padEnd(24)} ${'keep-alive'.padStart(10)} ${'close'.padStart(8)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'/api/tasks'.padStart(10)} ${'CPU µs/req: keep-alive'.padStart(22)} ${'close'.padStart(9)}`);
  for (const [name, row] of results) {
    const [keep, close, latency, tasks] = row as [Run, Run, Run, Run];
    const failed = row.reduce((n, r) => n + r.failed, 0);
    const [keepCpu, closeCpu] = cpu.get(name)!;
    console.log(`${name.padEnd(24)} ${num(keep.rps).padStart(10)} ${num(close.rps)} ${num(latency.p50)} ${num(latency.p99)} ${num(tasks.rps).padStart(10)} ${micros(keepCpu).padStart(22)} ${micros(closeCpu)}${failed ? `   (${failed} failed)` : ''}`);
  }
  console.log('(req/s; latency at 4 connections; CPU: the server\'s processes (tenantd\'s primary and worker, nginx and the worker, the worker alone), the database not counted)');
  console.log('\nratios (the median of the rounds\' own ratios)');
  const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  /** Over the rounds: `key` of `a` against `b` on measure `i`, as the median ratio (or difference, µs). */
  const paired = (a: Path, b: Path, i: number, key: 'rps' | 'cpu' | 'p50', diff = false) => {
    const left = runs.get(a)?.[i];
    const right = runs.get(b)?.[i];
    if (!left || !right) return undefined;
    return medianOf(left.map((run, r) => (diff ? run[key] - right[r]![key] : run[key] / right[r]![key])));
  };
  const times = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : `${n.toFixed(2)}×`).padStart(7);
  for (const name of ['tenantd', 'tenantd, handoff: false'] as Path[]) {
    console.log(`  ${name}: keep-alive ${times(paired(name, 'nginx', 0, 'rps'))} nginx, ${times(paired(name, 'direct', 0, 'rps'))} direct; close ${times(paired(name, 'nginx', 1, 'rps'))} nginx, ${times(paired(name, 'direct', 1, 'rps'))} direct; /api/tasks ${times(paired(name, 'direct', 3, 'rps'))} direct; p50 added over direct ${paired(name, 'direct', 2, 'p50', true)!.toFixed(0)} µs`);
    const keepCpu = paired('nginx', name, 0, 'cpu');
    if (keepCpu !== undefined && !Number.isNaN(keepCpu)) console.log(`  ${' '.repeat(name.length)}  CPU per request, nginx's over tenantd's: keep-alive ${times(keepCpu)}, close ${times(paired('nginx', name, 1, 'cpu'))}`);
  }
  const mib = (pid: number) => ((residentBytes(pid) ?? 0) / 2 ** 20).toFixed(0);
  console.log(`  memory: primary ${mib(service.child.pid!)} MiB, worker ${mib((await service.status())[0]!.workers[0]!.pid!)} MiB (RSS)`);

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
  await nginx?.stop();
  await service?.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
