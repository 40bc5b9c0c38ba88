// Moves that do not finish: tenantd killed with -9 in each phase of a move
// (preparing the target, copying, cutting over) and started again, which rolls
// the move back; and `tenants move --abort` of a move stuck in its cutover,
// whose held requests then go on, served from the source. Two embedded
// PostgreSQL servers, `tenantd serve` as its own process, the demo application.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import pg from 'pg';
import { freePort } from '../src/base/free-port.ts';
import { secretsFile, type ClusterSecrets } from '../src/db/embedded/cluster.ts';
import { runCli } from './helpers/cli.ts';
import { spawnServe } from './helpers/serve-process.ts';
import { query } from './helpers/database.ts';
import { eventually, request } from './helpers/http.ts';

interface Node { child: ChildProcess; port: number; exited: Promise<unknown>; output(): string }

function setUp(t: TestContext): { dir: string; configFile: string; serve(): Promise<Node>; superUrl(server: 'default' | 'eu2'): string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-t-'));
  chmodSync(dir, 0o711);
  const configFile = path.join(dir, 'tenantd.yaml');
  const running: ChildProcess[] = [];
  t.after(async () => {
    // The last one stops the embedded servers it adopted; the folder goes after.
    for (const child of running) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    configFile,
    async serve() {
      const [port, admin] = [await freePort(), await freePort()];
      writeFileSync(configFile, [
        `listen: 127.0.0.1:${port}`, `admin: 127.0.0.1:${admin}`, 'log:', '  access: false',
        'database:', '  dataDir: pg-default', 'databases:', '  eu2:', '    dataDir: pg-eu2',
        'tenants:', '  - schema: acme', '    hosts: [acme.test]', '',
      ].join('\n'));
      const serving = spawnServe(configFile);
      running.push(serving.child);
      await serving.ready(undefined, 60_000);
      return { ...serving, port };
    },
    superUrl(server) {
      const secrets = JSON.parse(readFileSync(secretsFile(path.join(dir, server === 'default' ? 'pg-default' : 'pg-eu2')), 'utf8')) as ClusterSecrets;
      return `postgres://postgres:${encodeURIComponent(secrets.superPassword)}@127.0.0.1:${secrets.port}/tenantd`;
    },
  };
}

async function addTask(port: number, title: string): Promise<number> {
  const reply = await request(port, { host: 'acme.test', method: 'POST', path: '/api/tasks', body: JSON.stringify({ title }), headers: { 'content-type': 'application/json' } });
  return reply.status;
}

async function phase(url: string): Promise<string | undefined> {
  const rows = (await query(url, "select move->>'phase' as phase from public.tenantd_placement where schema = 'acme'").catch(() => ({ rows: [] }))).rows;
  return rows[0]?.phase ?? undefined;
}

/**
 * Makes the running move stop in its cutover, the source fenced: once the
 * target is prepared, the test locks the target's migration table, so the
 * target's workers (starting beside the copy; a process takes far longer to
 * boot than this lock) cannot get ready and the move waits before its pause;
 * once the copy is done the subscription is disabled here, then the lock
 * goes, the cutover starts, and its catch-up waits for a target that takes no
 * more changes.
 */
async function stallCutover(env: ReturnType<typeof setUp>): Promise<void> {
  const locker = new pg.Client(env.superUrl('eu2'));
  await locker.connect();
  try {
    // Once the target is prepared (the move then starts the copy and, beside it, the target's workers).
    await eventually(async () => ((await phase(env.superUrl('default'))) === 'copying' ? true : undefined), 30_000, 'the copying phase');
    await locker.query('begin');
    await locker.query('lock table acme.tenantd_migration in access exclusive mode');
    await eventually(async () => {
      const states = (await query(env.superUrl('eu2'), 'select srsubstate from pg_subscription_rel')).rows;
      return states.length > 0 && states.every((x: { srsubstate: string }) => x.srsubstate === 'r') ? true : undefined;
    }, 60_000, 'the copy to finish');
    await query(env.superUrl('eu2'), 'alter subscription tenantd_move_acme disable');
    await locker.query('rollback');
  } finally {
    await locker.end();
  }
  await eventually(async () => ((await phase(env.superUrl('default'))) === 'cutover' ? true : undefined), 30_000, 'the cutover');
  await eventually(async () => ((await query(env.superUrl('default'), "select rolcanlogin from pg_roles where rolname = 'tenantd_acme'")).rows[0].rolcanlogin === false ? true : undefined), 10_000, 'the fence');
}

/** Where the tenant stands after a move was undone: on default, unfenced, nothing of the move left on either server. */
async function assertRolledBack(env: ReturnType<typeof setUp>, node: Node, rows: number): Promise<void> {
  const placement = (await query(env.superUrl('default'), "select server, move from public.tenantd_placement where schema = 'acme'")).rows[0];
  assert.deepEqual(placement, { server: 'default', move: null });
  assert.equal((await query(env.superUrl('default'), "select rolcanlogin from pg_roles where rolname = 'tenantd_acme'")).rows[0].rolcanlogin, true);
  assert.equal((await query(env.superUrl('default'), 'select count(*)::int as n from pg_replication_slots')).rows[0].n, 0);
  assert.equal((await query(env.superUrl('default'), 'select count(*)::int as n from pg_publication')).rows[0].n, 0);
  assert.equal((await query(env.superUrl('eu2'), 'select count(*)::int as n from pg_subscription')).rows[0].n, 0);
  assert.equal((await query(env.superUrl('eu2'), "select count(*)::int as n from pg_namespace where nspname = 'acme'")).rows[0].n, 0);
  const reply = await request(node.port, { host: 'acme.test', path: '/api/tasks' });
  assert.equal(reply.status, 200);
  assert.equal(JSON.parse(reply.body).length, rows);
  assert.equal(await addTask(node.port, 'after the rollback'), 201);
}

test('tenantd killed with -9 while a move prepares its target, copies, or cuts over: the next start rolls the move back and the tenant serves from its source', { timeout: 300_000 }, async (t) => {
  const env = setUp(t);
  let node = await env.serve();
  // Enough rows that the copy takes a moment.
  await query(env.superUrl('default'), "insert into acme.tasks (title) select 'row ' || g from generate_series(1, 300000) g");
  let rows = 300_000;

  // 1. Preparing: the target's provisioning waits for a lock held here.
  const blocker = new pg.Client(env.superUrl('eu2'));
  await blocker.connect();
  await blocker.query("select pg_advisory_lock(hashtext('tenantd.provision'), 0)");
  let moving = runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', env.configFile]);
  await eventually(async () => ((await phase(env.superUrl('default'))) === 'preparing' ? true : undefined), 30_000, 'the preparing phase');
  node.child.kill('SIGKILL');
  await node.exited;
  assert.notEqual((await moving).code, 0);
  await blocker.end();
  node = await env.serve();
  assert.match(node.output(), /"msg":"a move interrupted by a stop of tenantd was rolled back; the tenant serves from where it was"/);
  await assertRolledBack(env, node, rows);
  rows += 1;

  // 2. Copying: killed while the subscription copies the rows.
  moving = runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', env.configFile]);
  await eventually(async () => ((await phase(env.superUrl('default'))) === 'copying' ? true : undefined), 30_000, 'the copying phase', );
  node.child.kill('SIGKILL');
  await node.exited;
  assert.notEqual((await moving).code, 0);
  node = await env.serve();
  await assertRolledBack(env, node, rows);
  rows += 1;

  // 3. Cutting over: the target stops taking changes once the copy is done, so the cutover waits for it; killed then, the source fenced.
  moving = runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', env.configFile]);
  await stallCutover(env);
  node.child.kill('SIGKILL');
  await node.exited;
  assert.notEqual((await moving).code, 0);
  node = await env.serve();
  await assertRolledBack(env, node, rows);
});

test('tenants move --abort of a move stuck in its cutover: the move undoes itself, the requests it held are served from the source, none fails', { timeout: 240_000 }, async (t) => {
  const env = setUp(t);
  const node = await env.serve();
  for (let i = 0; i < 20; i++) assert.equal(await addTask(node.port, `t${i}`), 201);
  const moving = runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', env.configFile]);
  await stallCutover(env);
  // Requests held by the stuck cutover.
  const held = Array.from({ length: 5 }, (_, i) => addTask(node.port, `held ${i}`));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const aborted = await runCli(['tenants', 'move', 'acme', '--abort', '-c', env.configFile]);
  assert.equal(aborted.code, 0, aborted.stderr);
  assert.match(aborted.stdout, /^aborted the move of acme: it serves from default\n$/);
  const moved = await moving;
  assert.equal(moved.code, 1);
  assert.match(moved.stderr, /TENANTD_MOVE_FAILED: the move of acme failed while cutting over: aborted \(tenants move --abort\); it is served from where it was/);
  assert.deepEqual(await Promise.all(held), [201, 201, 201, 201, 201]);
  await assertRolledBack(env, node, 25);
});
