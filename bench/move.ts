// npm run bench:move: moving a tenant between two database servers while it
// is written to. Two embedded PostgreSQL servers (tenantd starts both), the
// demo application served by `tenantd serve` (the shipped bundle, a process of
// its own), one tenant filled with MOVE_ROWS rows (default 100000 and 1000000),
// and a writer adding tasks through the router at MOVE_RATE per second
// (default 400) throughout. For each size the tenant moves online (logical
// replication) to the other server, then back offline (the copy engine, the
// baseline: a copy with the tenant paused); for each: the copy time, how long
// its requests were held, the longest a write waited, the longest gap between
// acknowledged writes, requests held and failed, and that every acknowledged
// write is on the new server once. Then 1,000 tenants placed over the two
// servers (placement: fewest): `migrate` and `status` times, beside the same
// on one server.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/base/free-port.ts';
import { secretsFile, type ClusterSecrets } from '../src/db/embedded/cluster.ts';
import type { MoveResult } from '../src/admin/admin-types.ts';
import { runTenantd as run } from './tenantd-process.ts';

const sizes = (process.env.MOVE_ROWS ?? '100000,1000000').split(',').map(Number);
const rate = Number(process.env.MOVE_RATE ?? 400);
const manyTenants = Number(process.env.MOVE_TENANTS ?? 1000);
const bin = path.resolve(import.meta.dirname, '../bin/tenantd.js');

const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-move-'));
chmodSync(dir, 0o711);

const line = (what: string, value: string, target = "") => console.log(`  ${what.padEnd(66)} ${value.padEnd(18)} ${target}`);

interface Serving { child: ChildProcess; port: number; admin: number; stop(): Promise<void> }

function configText(port: number, admin: number, tenants: string, extra = ''): string {
  return [
    `listen: 127.0.0.1:${port}`, `admin: 127.0.0.1:${admin}`,
    'log:', '  access: false',
    'database:', '  dataDir: pg-default', '  poolSize: 4',
    'databases:', '  eu2:', '    dataDir: pg-eu2',
    extra,
    tenants,
  ].join('\n');
}

async function serve(folder: string, port: number, admin: number): Promise<Serving> {
  const child = spawn(process.execPath, [bin, 'serve', '-c', path.join(folder, 'tenantd.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tenantd serve exited ${child.exitCode}`);
    if (await fetch(`http://127.0.0.1:${admin}/readyz`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) throw new Error('not ready in 180 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, port, admin, stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }) };
}

function superUrl(folder: string, server: string): string {
  const secrets = JSON.parse(readFileSync(secretsFile(path.join(folder, server)), 'utf8')) as ClusterSecrets;
  return `postgres://postgres:${encodeURIComponent(secrets.superPassword)}@127.0.0.1:${secrets.port}/tenantd`;
}

async function sql<T extends pg.QueryResultRow = any>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function post(port: number, title: string): Promise<{ status: number; ms: number; why?: string }> {
  const started = performance.now();
  const body = JSON.stringify({ title });
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/tasks', agent, headers: { host: 'acme.test', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, why: res.statusCode === 201 ? undefined : `${res.statusCode} ${text.slice(0, 120)}` }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, ms: performance.now() - started, why: error.code ?? error.message }));
    req.end(body);
  });
}

/** Writes at `rate` per second (paced, several in flight at most) until stopped. */
function writer(port: number, prefix: string) {
  const acknowledged: string[] = [];
  let failed = 0;
  let failedSince = 0;
  /** Why requests failed, by reason, for the report. */
  const reasons = new Map<string, number>();
  let longest = 0;
  let lastAck = performance.now();
  let longestGap = 0;
  let n = 0;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / rate;
  const began = performance.now();
  const tick = async () => {
    while (!stopping) {
      const due = began + n * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (inFlight.size >= 64) {
        await Promise.race(inFlight);
        continue;
      }
      const title = `${prefix}-${n++}`;
      const p = post(port, title).then((r) => {
        longest = Math.max(longest, r.ms);
        if (r.status === 201) {
          acknowledged.push(title);
          const now = performance.now();
          longestGap = Math.max(longestGap, now - lastAck);
          lastAck = now;
        } else {
          failed += 1;
          failedSince += 1;
          reasons.set(r.why ?? String(r.status), (reasons.get(r.why ?? String(r.status)) ?? 0) + 1);
        }
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  };
  const running = tick();
  return {
    /** From now on, figures() counts afresh. */
    reset() {
      longest = 0;
      longestGap = 0;
      failedSince = 0;
      lastAck = performance.now();
    },
    figures() {
      return { longest, longestGap, failed: failedSince, reasons: [...reasons].map(([why, n]) => `${n}× ${why}`).join('; ') };
    },
    async stop() {
      stopping = true;
      await running;
      await Promise.all(inFlight);
      return { acknowledged, failed, longest, longestGap };
    },
  };
}

async function move(admin: number, to: string, offline: boolean): Promise<Extract<MoveResult, { ok: true; mode: string }>> {
  const reply = await fetch(`http://127.0.0.1:${admin}/move?tenant=acme&to=${to}${offline ? '&offline=1' : ''}`, { method: 'POST' });
  const body = await reply.json() as MoveResult;
  if (!body.ok || 'aborted' in body) throw new Error(`move failed: ${JSON.stringify(body)}`);
  return body;
}

console.log(`tenantd bench:move: a tenant of ${sizes.join(' and ')} rows moved between two embedded PostgreSQL servers, writes at ${rate}/s throughout; Node ${process.version}, ${os.availableParallelism()} cores\n`);
console.log(`  ${'measure'.padEnd(66)} ${'measured'.padEnd(18)} target`);

try {
  for (const rows of sizes) {
    const folder = path.join(dir, `rows-${rows}`);
    mkdirSync(folder);
    const [port, admin] = [await freePort(), await freePort()];
    writeFileSync(path.join(folder, 'tenantd.yaml'), configText(port, admin, 'tenants:\n  - schema: acme\n    hosts: [acme.test]\n'));
    const s = await serve(folder, port, admin);
    await sql(superUrl(folder, 'pg-default'), `insert into acme.tasks (title) select 'row ' || g from generate_series(1, ${rows}) g`);
    await sql(superUrl(folder, 'pg-default'), 'vacuum analyze acme.tasks');
    const w = writer(port, `r${rows}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const results: { mode: string; result: Awaited<ReturnType<typeof move>>; longest: number; longestGap: number; failed: number }[] = [];
    // The baseline of the same writer with no move: as long a window as an online move takes.
    w.reset();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const quiet = w.figures();
    for (const [to, offline] of [['eu2', false], ['default', true]] as const) {
      w.reset();
      const result = await move(admin, to, offline);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const snapshot = w.figures();
      results.push({ mode: result.mode, result, longest: snapshot.longest, longestGap: snapshot.longestGap, failed: snapshot.failed });
      if (snapshot.reasons) console.log(`    failures so far: ${snapshot.reasons}`);
    }
    const done = await w.stop();
    // Every acknowledged write once, on the server the tenant ended on (default, after the move back).
    const found = await sql(superUrl(folder, 'pg-default'), 'select count(*)::int as n, count(distinct title)::int as d from acme.tasks where title = any($1)', [done.acknowledged]);
    const lost = done.acknowledged.length - found[0]!.d;
    const doubled = found[0]!.n - found[0]!.d;
    for (const r of results) {
      const label = `${rows.toLocaleString('en')} rows, ${r.mode}`;
      line(`${label}: copy`, `${(r.result.copyMs / 1000).toFixed(2)} s`);
      line(`${label}: the target's workers start (beside the copy)`, `${r.result.startMs} ms`);
      line(`${label}: requests held (the pause)`, `${r.result.pauseMs} ms`, r.mode === 'online' ? '≤ 250 ms' : 'baseline');
      line(`${label}: longest single write`, `${r.longest.toFixed(0)} ms`);
      line(`${label}: longest gap between acknowledgements (the write pause)`, `${r.longestGap.toFixed(0)} ms`, r.mode === 'online' ? '≤ 250 ms' : '');
      line(`${label}: requests held / failed`, `${r.result.held} / ${r.failed}`, '0 failed');
    }
    line(`${rows.toLocaleString('en')} rows, no move (4 s): longest write wait`, `${quiet.longest.toFixed(0)} ms`, 'baseline');
    line(`${rows.toLocaleString('en')} rows, no move (4 s): longest gap between acknowledgements`, `${quiet.longestGap.toFixed(0)} ms`, 'baseline');
    const online = results.find((r) => r.mode === 'online')!;
    const offline = results.find((r) => r.mode === 'offline')!;
    line(`${rows.toLocaleString('en')} rows: pause offline / online`, `${(offline.result.pauseMs / Math.max(1, online.result.pauseMs)).toFixed(1)}×`);
    line(`${rows.toLocaleString('en')} rows: writes acknowledged / lost / doubled`, `${done.acknowledged.length} / ${lost} / ${doubled}`, '0 lost, 0 doubled');
    await s.stop();
    rmSync(folder, { recursive: true, force: true });
  }

  // 1,000 tenants: on one server, then placed over two (fewest).
  const tenants = `tenants:\n${Array.from({ length: manyTenants }, (_, i) => `  - schema: t${i}\n    hosts: [t${i}.test]`).join('\n')}\n`;
  for (const [label, extra] of manyTenants > 0 ? [['one server', ''], ['two servers (placement: fewest)', 'placement: fewest']] as const : []) {
    const folder = path.join(dir, label.startsWith('one') ? 'one' : 'two');
    mkdirSync(folder);
    const [port, admin] = [await freePort(), await freePort()];
    const text = configText(port, admin, tenants, `${extra}\nworkers:\n  min: 0`);
    writeFileSync(path.join(folder, 'tenantd.yaml'), label.startsWith('one') ? text.replace('databases:\n  eu2:\n    dataDir: pg-eu2\n', '') : text);
    const migrated = await run(['migrate', '-c', path.join(folder, 'tenantd.yaml')]);
    if (migrated.code !== 0) throw new Error(migrated.out.slice(-2000));
    line(`${manyTenants} tenants, ${label}: migrate`, `${(migrated.ms / 1000).toFixed(1)} s`);
    const again = await run(['migrate', '-c', path.join(folder, 'tenantd.yaml')]);
    line(`${manyTenants} tenants, ${label}: migrate again (nothing to do)`, `${(again.ms / 1000).toFixed(1)} s`);
    const s = await serve(folder, port, admin);
    const status = await run(['status', '-c', path.join(folder, 'tenantd.yaml')]);
    line(`${manyTenants} tenants, ${label}: status`, `${(status.ms / 1000).toFixed(2)} s`);
    const list = await run(['tenants', 'list', '-c', path.join(folder, 'tenantd.yaml')]);
    line(`${manyTenants} tenants, ${label}: tenants list`, `${(list.ms / 1000).toFixed(2)} s`);
    if (!label.startsWith('one')) {
      const counts = /database:\s+default: up, (\d+) tenants[\s\S]*database:\s+eu2: up, (\d+) tenants/.exec(status.out);
      line(`${manyTenants} tenants, ${label}: tenants per server`, counts ? `${counts[1]} / ${counts[2]}` : status.out.slice(0, 200));
    }
    await s.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
