// npm run bench:data: the copy engine against its targets, on an embedded
// PostgreSQL, with the commands run as a user runs them (bin/tenantd.js):
//  1. one tenant of DATA_ROWS rows (default 1,000,000) exported, then imported
//     as another tenant: rows per second each way, beside a plain COPY of the
//     same rows into a table with the same keys (the baseline, same run);
//  2. a backup of DATA_TENANTS demo tenants (default 1,000, 10 tasks each)
//     while the service serves them, its p99 latency against idle (taking turns);
//  3. the restore of that backup into an empty database;
//  4. tenants clone of a 1,000-row template: the command's wall time.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { freePort } from '../src/base/free-port.ts';
import { runTenantd as run } from './tenantd-process.ts';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { superUrlOf } from '../test/helpers/embedded-superuser.ts';

const rows = Number(process.env.DATA_ROWS ?? 1_000_000);
const tenants = Number(process.env.DATA_TENANTS ?? 1000);
const bin = path.resolve(import.meta.dirname, '../bin/tenantd.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-data-'));
chmodSync(dir, 0o711);
const server = await EmbeddedServer.start({ dataDir: path.join(dir, 'data') });
const secretFile = path.join(dir, 'secret');

const superUrl = superUrlOf(server, path.join(dir, 'data'));

/** A database of its own, owned by the admin role, for one part of the bench. */
async function database(name: string): Promise<string> {
  const root = new pg.Client(superUrl);
  await root.connect();
  await root.query(`create database ${name} owner ${new URL(server.url).username}`);
  await root.end();
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

function configOf(folder: string, url: string, schemas: string[], port = 0, admin = 0): string {
  mkdirSync(path.join(folder, 'tenants.d'), { recursive: true });
  for (const schema of schemas) writeFileSync(path.join(folder, 'tenants.d', `${schema}.yaml`), `schema: ${schema}\nhosts: [${schema}.test]\n`);
  const file = path.join(folder, 'tenantd.yaml');
  writeFileSync(file, `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:${admin}\ndatabase:\n  url: ${url}\n  secretFile: ${secretFile}\nlog:\n  access: false\n  level: warn\nworkers:\n  min: 0\ntenantsDir: tenants.d\n`);
  return file;
}

async function must(args: string[]): Promise<number> {
  const result = await run(args);
  if (result.code !== 0) throw new Error(`tenantd ${args.join(' ')}: ${result.out}`);
  return result.ms;
}

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  await c.query(text);
  await c.end();
}

function get(port: number, host: string, agent: http.Agent): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/api/tasks', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
    }).on('error', () => resolve(Number.NaN));
  });
}

/** Requests to `hosts` from 4 keep-alive connections until `until` resolves: their latencies, ms. */
async function latencies(port: number, hosts: string[], until: Promise<unknown>): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const out: number[] = [];
  let going = true;
  void until.then(() => { going = false; });
  await Promise.all(Array.from({ length: 4 }, async (_, lane) => {
    for (let i = lane; going; i++) out.push(await get(port, hosts[i % hosts.length]!, agent));
  }));
  agent.destroy();
  return out.filter((ms) => !Number.isNaN(ms));
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? Number.NaN;
const line = (what: string, value: string, target = '') => console.log(`  ${what.padEnd(54)} ${value.padEnd(26)} ${target}`);

console.log(`tenantd bench:data: ${rows} rows, ${tenants} tenants; Node ${process.version}, ${os.availableParallelism()} cores\n`);
console.log(`  ${'measure'.padEnd(54)} ${'measured'.padEnd(26)} target`);
let serving: ChildProcess | undefined;
try {
  // 1. One large tenant, out and in.
  const oneUrl = await database('one');
  const one = configOf(path.join(dir, 'one'), oneUrl, ['big', 'copy']);
  await must(['migrate', '-c', one]);
  const roleOf = (schema: string) => `one_${schema}`;
  // As the tenant's role (the admin may become it): its own table.
  await sql(oneUrl, `begin; set local role ${roleOf('big')}; insert into big.tasks (title, done) select 'task number ' || i, i % 3 = 0 from generate_series(1, ${rows}) i; commit`);
  const file = path.join(dir, 'big.tdb');
  const exportMs = await must(['tenants', 'export', 'big', file, '-c', one]);
  const importMs = await must(['tenants', 'import', 'copy', file, '-c', one]);
  // The baseline: the same rows COPYed from one connection into a table with the same keys and check, no engine around it.
  const c = new pg.Client(oneUrl);
  await c.connect();
  await c.query(`set role ${roleOf('big')}`);
  await c.query('create table big.plain (like big.tasks including all)');
  const started = performance.now();
  await pipeline(c.query(copyTo('copy big.tasks (id, title, done, created_at) to stdout')), (await (async () => {
    const d = new pg.Client(oneUrl);
    await d.connect();
    await d.query(`set role ${roleOf('big')}`);
    const stream = d.query(copyFrom('copy big.plain (id, title, done, created_at) from stdin'));
    stream.on('finish', () => void d.end());
    return stream;
  })()));
  const plainMs = performance.now() - started;
  await c.end();
  const rate = (ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en')} rows/s`;
  line(`export one tenant, ${rows.toLocaleString('en')} rows (command, wall)`, `${(exportMs / 1000).toFixed(1)} s, ${rate(exportMs)}`, '≥ 100,000 rows/s');
  line(`import it as a new tenant (command, wall)`, `${(importMs / 1000).toFixed(1)} s, ${rate(importMs)}`, '≥ 100,000 rows/s');
  line('  baseline: a plain COPY out and in, same rows, same keys', `${(plainMs / 1000).toFixed(1)} s, ${rate(plainMs)}`);

  // 2. A backup of many tenants while they serve.
  const manyUrl = await database('many');
  const schemas = Array.from({ length: tenants }, (_, i) => `t${i}`);
  const [port, admin] = [await freePort(), await freePort()];
  const many = configOf(path.join(dir, 'many'), manyUrl, schemas, port, admin);
  await must(['migrate', '-c', many]);
  const fill = new pg.Client(manyUrl);
  await fill.connect();
  for (const schema of schemas) await fill.query(`begin; set local role many_${schema}; insert into ${schema}.tasks (title) select 'task ' || i from generate_series(1, 10) i; commit`);
  await fill.end();
  serving = spawn(process.execPath, [bin, 'serve', '-c', many], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Ready when the admin API says so (the log is at warn: no 'serving' line).
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (serving.exitCode !== null) throw new Error(`serve exited with code ${serving.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const hosts = schemas.slice(0, 20).map((s) => `${s}.test`);
  await latencies(port, hosts, new Promise((r) => setTimeout(r, 3000)));
  // Taking turns: idle, during the backup, idle again.
  const idle1 = await latencies(port, hosts, new Promise((r) => setTimeout(r, 5000)));
  const backupFile = path.join(dir, 'many.tdb');
  const backup = run(['backup', backupFile, '-c', many]);
  const during = await latencies(port, hosts, backup);
  const backupResult = await backup;
  if (backupResult.code !== 0) throw new Error(backupResult.out);
  const idle2 = await latencies(port, hosts, new Promise((r) => setTimeout(r, 5000)));
  const idle = p99([...idle1, ...idle2]);
  line(`backup of ${tenants} demo tenants, serving meanwhile (wall)`, `${(backupResult.ms / 1000).toFixed(1)} s`, '≤ 30 s');
  line('  p99 latency during it / idle (20 tenants, 4 connections)', `${p99(during).toFixed(1)} / ${idle.toFixed(1)} ms = ${(p99(during) / idle).toFixed(2)}×`, '≤ 2×');

  // 3. That backup into an empty database.
  const emptyUrl = await database('empty');
  const empty = configOf(path.join(dir, 'empty'), emptyUrl, schemas);
  const restoreMs = await must(['restore', backupFile, '-c', empty]);
  line(`restore of that backup into an empty database (wall)`, `${(restoreMs / 1000).toFixed(1)} s`, '≤ 90 s');

  // 4. A clone of a 1,000-row template, through the running service.
  const fillTemplate = new pg.Client(manyUrl);
  await fillTemplate.connect();
  await fillTemplate.query(`begin; set local role many_t0; insert into t0.tasks (title) select 'template task ' || i from generate_series(1, 990) i; commit`);
  await fillTemplate.end();
  const clones: number[] = [];
  for (let i = 0; i < 5; i++) clones.push(await must(['tenants', 'clone', 't0', `signup${i}`, '--host', `signup${i}.test`, '-c', many]));
  const sorted = [...clones].sort((a, b) => a - b);
  line('tenants clone of a 1,000-row template (command, wall), p50', `${(sorted[2]! / 1000).toFixed(2)} s (of ${clones.map((ms) => (ms / 1000).toFixed(2)).join(', ')})`, '≤ 1 s');
} finally {
  serving?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
