// Tenants on several database servers, and moved between them: two embedded
// PostgreSQL servers that tenantd itself starts (each in its own dataDir), the
// demo application, a writer that keeps adding tasks through the router while
// a tenant moves.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { loadConfig } from '../src/config/load-config.ts';
import { createLogger } from '../src/log/logger.ts';
import { Service } from '../src/service/service.ts';
import { secretsFile, type ClusterSecrets } from '../src/db/embedded/cluster.ts';
import { query } from './helpers/database.ts';
import { eventually, request } from './helpers/http.ts';
import { runCli } from './helpers/cli.ts';
import { spawnServe } from './helpers/serve-process.ts';
import { spawnSync } from 'node:child_process';
import { front } from './helpers/front-process.ts';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { freePort } from '../src/base/free-port.ts';

const tenants = ['acme', 'globex', 'initech'];

/** The services started on each folder: stopped (their embedded servers with them) before the folder goes. */
const servicesOn = new Map<string, Service[]>();

/** A folder the embedded servers' OS user can pass through; removed after the test, once its services stopped. */
function serverDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-t-'));
  chmodSync(dir, 0o711);
  t.after(async () => {
    for (const service of servicesOn.get(dir) ?? []) await service.stop();
    servicesOn.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function configText(admin: number, extra = ''): string {
  return [
    'listen: 127.0.0.1:0',
    `admin: 127.0.0.1:${admin}`,
    'log:',
    '  access: false',
    'database:',
    '  dataDir: pg-default',
    'databases:',
    '  eu2:',
    '    dataDir: pg-eu2',
    'tenants:',
    ...tenants.map((s) => `  - schema: ${s}\n    hosts: [${s}.test]${s === 'initech' ? '\n    database: eu2' : ''}`),
    extra,
  ].join('\n');
}

interface Running {
  service: Service;
  dir: string;
  configFile: string;
  port: number;
  adminPort: number;
  /** The superuser URL of a server's database tenantd. */
  superUrl(server: 'default' | 'eu2'): string;
}

async function start(t: TestContext, dir: string, text?: string): Promise<Running> {
  const configFile = path.join(dir, 'tenantd.yaml');
  writeFileSync(configFile, text ?? configText(await freePort()));
  const service = new Service(loadConfig(configFile, {}), { log: createLogger(process.env.TENANTD_TEST_LOG ?? 'silent') });
  servicesOn.set(dir, [...(servicesOn.get(dir) ?? []), service]);
  await service.start();
  const superUrl = (server: 'default' | 'eu2') => {
    const secrets = JSON.parse(readFileSync(secretsFile(path.join(dir, server === 'default' ? 'pg-default' : 'pg-eu2')), 'utf8')) as ClusterSecrets;
    return `postgres://postgres:${encodeURIComponent(secrets.superPassword)}@127.0.0.1:${secrets.port}/tenantd`;
  };
  return { service, dir, configFile, port: service.address.port, adminPort: service.adminAddress.port, superUrl };
}

async function addTask(port: number, schema: string, title: string): Promise<number> {
  const reply = await request(port, { host: `${schema}.test`, method: 'POST', path: '/api/tasks', body: JSON.stringify({ title }), headers: { 'content-type': 'application/json' } });
  if (reply.status !== 201) throw new Error(`POST ${schema} ${title}: ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body).id as number;
}

async function tasks(port: number, schema: string): Promise<{ id: number; title: string }[]> {
  const reply = await request(port, { host: `${schema}.test`, path: '/api/tasks' });
  assert.equal(reply.status, 200, reply.body);
  return JSON.parse(reply.body);
}

/** Writers adding tasks to `schema` until stopped: each acknowledged title, and each failure. */
function writer(port: number, schema: string, lanes = 4): { stop(): Promise<{ acknowledged: string[]; failed: string[]; longestMs: number }> } {
  const acknowledged: string[] = [];
  const failed: string[] = [];
  let stopping = false;
  let longestMs = 0;
  let n = 0;
  const lane = async () => {
    while (!stopping) {
      const title = `w${n++}`;
      const began = performance.now();
      try {
        await addTask(port, schema, title);
        acknowledged.push(title);
      } catch (error) {
        failed.push(`${title}: ${(error as Error).message}`);
      }
      longestMs = Math.max(longestMs, performance.now() - began);
    }
  };
  const running = Promise.all(Array.from({ length: lanes }, lane));
  return {
    async stop() {
      stopping = true;
      await running;
      return { acknowledged, failed, longestMs };
    },
  };
}

test('tenants are placed on the server their entry names, else default; status, tenants list and metrics show it; a changed entry keeps the tenant where it lives, with one line pointing at tenants move', { timeout: 180_000 }, async (t) => {
  const s = await start(t, serverDir(t));
  const status = s.service.status();
  assert.deepEqual(status.map((x) => [x.schema, x.server]).sort(), [['acme', 'default'], ['globex', 'default'], ['initech', 'eu2']]);
  // The data is where the placement says: initech's schema on eu2 only.
  assert.equal((await query(s.superUrl('eu2'), "select count(*)::int as n from pg_namespace where nspname = 'initech'")).rows[0].n, 1);
  assert.equal((await query(s.superUrl('default'), "select count(*)::int as n from pg_namespace where nspname = 'initech'")).rows[0].n, 0);
  // Shared migrations on every server.
  for (const server of ['default', 'eu2'] as const) {
    assert.equal((await query(s.superUrl(server), "select to_regclass('public.announcements') is not null as ok")).rows[0].ok, true);
  }
  await addTask(s.port, 'initech', 'on eu2');
  assert.deepEqual((await tasks(s.port, 'initech')).map((x) => x.title), ['on eu2']);
  const summary = s.service.summary();
  assert.deepEqual(summary.databases.map((d) => [d.name, d.up, d.tenants]), [['default', true, 2], ['eu2', true, 1]]);
  const metrics = s.service.metricsText();
  assert.match(metrics, /^tenantd_tenant_up\{tenant="initech",server="eu2"\} 1$/m);
  assert.match(metrics, /^tenantd_database_up\{server="eu2"\} 1$/m);

  // A move's slot that no recorded move owns (an interrupted one's) is reported.
  await query(s.superUrl('eu2'), "select pg_create_logical_replication_slot('tenantd_move_gone', 'pgoutput')");
  await eventually(() => (s.service.summary().databases.find((d) => d.name === 'eu2')!.orphanSlots.includes('tenantd_move_gone') ? true : undefined), 10_000, 'the orphan slot in status');
  await query(s.superUrl('eu2'), "select pg_drop_replication_slot('tenantd_move_gone')");
  const list = JSON.parse((await runCli(['tenants', 'list', '--json', '-c', s.configFile])).stdout) as { schema: string; server: string }[];
  assert.deepEqual(list.map((r) => [r.schema, r.server]), [['acme', 'default'], ['globex', 'default'], ['initech', 'eu2']]);

  // An entry that names another server for a tenant that lives somewhere: it stays, and the reload says how to move it.
  writeFileSync(s.configFile, configText(s.adminPort).replace('hosts: [acme.test]', 'hosts: [acme.test]\n    database: eu2'));
  const reload = await runCli(['reload', '-c', s.configFile]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^ {2}warning: acme lives on database server default \(the registry\); its entry names eu2: move it with `tenantd tenants move acme --to eu2`$/m);
  assert.equal(s.service.status().find((x) => x.schema === 'acme')!.server, 'default');
});

test('a tenant moves online under a writer: no acknowledged write lost or doubled, checksums equal, requests held not failed; the source is fenced; a restart keeps it on the new server', { timeout: 240_000 }, async (t) => {
  const dir = serverDir(t);
  let s = await start(t, dir);
  for (let i = 0; i < 200; i++) await addTask(s.port, 'acme', `before ${i}`);
  const w = writer(s.port, 'acme');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const moved = await runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', s.configFile]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { acknowledged, failed } = await w.stop();
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout, /^moved acme from default to eu2 \(online, \d+ rows\): copy [\d.]+ s, requests held \d+ ms \(\d+ held, none failed\)/);
  assert.deepEqual(failed, []);
  assert.ok(acknowledged.length > 20, `the writer wrote ${acknowledged.length}`);

  const after = await tasks(s.port, 'acme');
  const titles = after.map((x) => x.title);
  assert.equal(new Set(titles).size, titles.length, 'no task twice');
  for (const title of acknowledged) assert.ok(titles.includes(title), `acknowledged ${title} is on the new server`);
  assert.equal(titles.filter((x) => x.startsWith('before ')).length, 200);
  assert.equal(s.service.status().find((x) => x.schema === 'acme')!.server, 'eu2');
  // The rows are on eu2, the same as the fenced copy on default had at the switch.
  const fencedMax = (await query(s.superUrl('default'), 'select max(id)::int as id from acme.tasks')).rows[0].id as number;
  const sum = `select count(*)::int as n, sum(hashtext(t::text)::bigint)::text as sum from acme.tasks t where id <= ${fencedMax}`;
  assert.deepEqual((await query(s.superUrl('eu2'), sum)).rows, (await query(s.superUrl('default'), sum)).rows);
  // The sequence came along: a new task gets an id above every copied one.
  const id = await addTask(s.port, 'acme', 'late 1');
  assert.ok(id > Math.max(...after.map((x) => x.id)));
  // The source's role is fenced; no replication objects are left.
  assert.equal((await query(s.superUrl('default'), "select rolcanlogin from pg_roles where rolname = 'tenantd_acme'")).rows[0].rolcanlogin, false);
  assert.equal((await query(s.superUrl('default'), "select count(*)::int as n from pg_replication_slots")).rows[0].n, 0);
  assert.equal((await query(s.superUrl('default'), "select count(*)::int as n from pg_publication")).rows[0].n, 0);
  assert.equal((await query(s.superUrl('eu2'), "select count(*)::int as n from pg_subscription")).rows[0].n, 0);
  const list = await runCli(['tenants', 'list', '-c', s.configFile]);
  assert.match(list.stdout, /^acme\s+eu2\s+active\s+0\s+acme\.test\s+\(fenced copy on default: tenants drop acme --from default\)$/m);

  // A restart serves it from eu2 (the registry, not the entry, says where it lives).
  await s.service.stop();
  s = await start(t, dir);
  assert.equal(s.service.status().find((x) => x.schema === 'acme')!.server, 'eu2');
  assert.ok((await tasks(s.port, 'acme')).some((x) => x.title === 'late 1'));

  // The fenced copy goes only when asked, and never the serving one.
  const refused = await runCli(['tenants', 'drop', 'acme', '--from', 'eu2', '--yes', '-c', s.configFile]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /acme is served from eu2/);
  const dropped = await runCli(['tenants', 'drop', 'acme', '--from', 'default', '--yes', '-c', s.configFile]);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.equal((await query(s.superUrl('default'), "select count(*)::int as n from pg_namespace where nspname = 'acme'")).rows[0].n, 0);
  assert.equal((await query(s.superUrl('default'), "select count(*)::int as n from pg_roles where rolname = 'tenantd_acme'")).rows[0].n, 0);
  assert.equal((await tasks(s.port, 'acme')).length, after.length + 1);
});

test('a move --offline copies with the tenant paused; a move back online works; a move the target cannot take leaves the tenant serving where it was, and says why in one line; the fenced copy goes after moves.keepSource', { timeout: 240_000 }, async (t) => {
  const dir = serverDir(t);
  const s = await start(t, dir);
  for (let i = 0; i < 50; i++) await addTask(s.port, 'globex', `g ${i}`);
  const offline = await runCli(['tenants', 'move', 'globex', '--to', 'eu2', '--offline', '-c', s.configFile]);
  assert.equal(offline.code, 0, offline.stderr);
  assert.match(offline.stdout, /^moved globex from default to eu2 \(offline, 50 rows\)/);
  assert.equal((await tasks(s.port, 'globex')).length, 50);
  const back = await runCli(['tenants', 'move', 'globex', '--to', 'default', '-c', s.configFile]);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(s.service.status().find((x) => x.schema === 'globex')!.server, 'default');
  assert.equal((await tasks(s.port, 'globex')).length, 50);

  // What the move needs, refused before anything changes: a table without replica identity.
  await query(s.superUrl('default'), 'create table globex.notes (body text)');
  await query(s.superUrl('default'), 'alter table globex.notes owner to tenantd_globex');
  const refused = await runCli(['tenants', 'move', 'globex', '--to', 'eu2', '-c', s.configFile]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^tenantd: TENANTD_MOVE_REFUSED: cannot move globex: table notes has no primary key or replica identity, so its updates cannot be replicated: give it one \(ALTER TABLE … REPLICA IDENTITY FULL\), or move with --offline; nothing was changed\n$/);
  const same = await runCli(['tenants', 'move', 'globex', '--to', 'default', '-c', s.configFile]);
  assert.match(same.stderr, /cannot move globex: it lives on default already/);
  const unknown = await runCli(['tenants', 'move', 'globex', '--to', 'mars', '-c', s.configFile]);
  assert.match(unknown.stderr, /TENANTD_SERVER_UNKNOWN: no database server mars: expected one of default, eu2/);
  assert.equal(s.service.status().find((x) => x.schema === 'globex')!.server, 'default');
  assert.equal((await tasks(s.port, 'globex')).length, 50);

  // The fenced copy the move back left on eu2 goes once moves.keepSource has passed (checked at start, then hourly).
  assert.equal((await query(s.superUrl('eu2'), "select count(*)::int as n from pg_namespace where nspname = 'globex'")).rows[0].n, 1);
  await s.service.stop();
  const again = await start(t, dir, configText(await freePort(), 'moves:\n  keepSource: 1ms\n'));
  await eventually(async () => ((await query(again.superUrl('eu2'), "select count(*)::int as n from pg_namespace where nspname = 'globex'")).rows[0].n === 0 ? true : undefined), 20_000, 'the fenced copy to be dropped');
  assert.equal((await query(again.superUrl('eu2'), "select count(*)::int as n from pg_roles where rolname = 'tenantd_globex'")).rows[0].n, 0);
  assert.equal((await query(again.superUrl('default'), "select left_on from public.tenantd_placement where schema = 'globex'")).rows[0].left_on, null);
  assert.equal((await tasks(again.port, 'globex')).length, 50);
});

const haveHaproxy = spawnSync('haproxy', ['-v']).error === undefined;
const token = 'a-token-for-the-balancer-checks';

test('two nodes behind HAProxy (the shipped config): a move through one is followed by the other at once, which holds the tenant\'s requests for the cutover, then serves from the new server; no write acknowledged through HAProxy fails or is lost', { timeout: 240_000, skip: !haveHaproxy && 'haproxy is not installed (apt-get install haproxy)' }, async (t) => {
  const dir = serverDir(t);
  const extra = `adminToken: ${token}\nrouter:\n  trustedProxies: [127.0.0.1]\n`;
  const a = await start(t, dir, configText(await freePort(), extra));
  for (let i = 0; i < 100; i++) await addTask(a.port, 'acme', `before ${i}`);
  // Node B: the same config and servers (it shares the embedded servers node A runs), its own ports, its own process.
  const [portB, adminB] = [await freePort(), await freePort()];
  const configB = path.join(dir, 'node-b.yaml');
  writeFileSync(configB, configText(adminB, extra).replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${portB}`));
  const nodeB = spawnServe(configB);
  const { child: b, exited } = nodeB;
  t.after(async () => {
    if (b.exitCode === null) b.kill('SIGKILL');
    await exited;
  });
  await nodeB.ready(undefined, 60_000);

  // HAProxy in front of both, its shipped config with the addresses and token replaced.
  const httpPort = await freePort();
  let balancer = readFileSync(path.resolve(import.meta.dirname, '..', 'examples', 'haproxy', 'haproxy.cfg'), 'utf8')
    .replaceAll('CHANGE-ME-TO-THE-ADMIN-TOKEN', token)
    .replace('bind :80\n', `bind 127.0.0.1:${httpPort}\n`)
    .replace('bind :443\n', `bind 127.0.0.1:${await freePort()}\n`);
  for (const [address, port, admin] of [['10.0.0.11', a.port, a.adminPort], ['10.0.0.12', portB, adminB]] as const) {
    balancer = balancer.replace(`${address}:8080 check port 9080`, `127.0.0.1:${port} check port ${admin}`).replace(`${address}:8443 check port 9080`, `127.0.0.1:${await freePort()} check port ${admin}`);
  }
  writeFileSync(path.join(dir, 'haproxy.cfg'), balancer);
  await front(t, 'haproxy', ['-f', path.join(dir, 'haproxy.cfg'), '-db'], httpPort);
  const seen = new Set<number>();
  await eventually(async () => {
    const reply = await request(httpPort, { host: 'acme.test', path: '/api/tenant' });
    if (reply.status === 200) seen.add(JSON.parse(reply.body).pid);
    return seen.size === 2 ? true : undefined;
  }, 20_000, 'both nodes serving through HAProxy');

  const w = writer(httpPort, 'acme');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const moved = await runCli(['tenants', 'move', 'acme', '--to', 'eu2', '-c', a.configFile]);
  assert.equal(moved.code, 0, moved.stderr);
  // B serves it from eu2 (it was told at the switch).
  await eventually(async () => {
    const status = JSON.parse((await request(adminB, { host: '127.0.0.1', path: '/status', headers: { authorization: `Bearer ${token}` } })).body) as { tenants: { schema: string; server: string }[] };
    return status.tenants.find((x) => x.schema === 'acme')!.server === 'eu2' ? true : undefined;
  }, 5000, 'node B to follow the move');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const { acknowledged, failed } = await w.stop();
  assert.deepEqual(failed, []);
  assert.ok(acknowledged.length > 10);
  assert.match(nodeB.output(), /"msg":"this tenant moved \(another node moved it\); it serves from its new server"/);
  // Every write B acknowledged is on eu2, once: none went to the fenced copy after the switch.
  const rows = (await query(a.superUrl('eu2'), 'select title from acme.tasks where title = any($1)', [acknowledged])).rows.map((r) => r.title);
  assert.equal(rows.length, acknowledged.length);
  assert.equal(new Set(rows).size, rows.length);
  assert.ok((await tasks(httpPort, 'acme')).some((x) => x.title === acknowledged.at(-1)));
  // And what A writes now, B reads.
  await addTask(a.port, 'acme', 'through A');
  assert.ok((await tasks(portB, 'acme')).some((x) => x.title === 'through A'));
  b.kill('SIGTERM');
  await exited;
});

test('a database server that is down makes only its tenants answer 503 (with Retry-After), /readyz names it; down at start, its tenants serve once it is back', { timeout: 180_000 }, async (t) => {
  const dir = serverDir(t);
  // eu2 is a server of ours reached through a proxy the test can cut.
  const eu2 = await EmbeddedServer.start({ dataDir: path.join(dir, 'pg-other') });
  t.after(() => eu2.stop());
  const proxy = await startTcpProxy(t, { host: '127.0.0.1', port: eu2.port });
  proxy.cut();
  const admin = await freePort();
  const text = configText(admin).replace('  eu2:\n    dataDir: pg-eu2', `  eu2:\n    url: ${proxy.through(eu2.url)}`);
  const s = await start(t, dir, text);
  // Down at start: tenantd serves the others; initech (on eu2) answers 503 until eu2 answers.
  assert.equal((await request(s.port, { host: 'acme.test', path: '/api/tasks' })).status, 200);
  const early = await request(s.port, { host: 'initech.test', path: '/api/tasks' });
  assert.equal(early.status, 503);
  assert.equal(early.headers['retry-after'], '5');
  const ready = await eventually(async () => {
    const reply = await request(s.adminPort, { host: '127.0.0.1', path: '/readyz' });
    return reply.status === 503 && /database eu2: /.test(reply.body) ? reply : undefined;
  }, 10_000, '/readyz to name eu2');
  assert.match(ready.body, /initech: failed/);
  proxy.restore();
  await eventually(async () => ((await request(s.port, { host: 'initech.test', path: '/api/tasks' })).status === 200 ? true : undefined), 30_000, 'initech to serve once eu2 is back');
  await addTask(s.port, 'initech', 'on eu2');

  // Down while serving: its tenants 503, the others serve; back: served again.
  proxy.cut();
  await eventually(async () => ((await request(s.port, { host: 'initech.test', path: '/api/tasks' })).status === 503 ? true : undefined), 15_000, 'initech to answer 503');
  assert.equal((await request(s.port, { host: 'acme.test', path: '/api/tasks' })).status, 200);
  await eventually(() => (s.service.summary().databases.find((d) => d.name === 'eu2')!.up ? undefined : true), 10_000, 'eu2 to be seen down');
  assert.equal(s.service.summary().databases.find((d) => d.name === 'default')!.up, true);
  proxy.restore();
  await eventually(async () => ((await request(s.port, { host: 'initech.test', path: '/api/tasks' })).status === 200 ? true : undefined), 30_000, 'initech to serve again');
  assert.deepEqual((await tasks(s.port, 'initech')).map((x) => x.title), ['on eu2']);
});

test('with several servers a backup is of one (--server), export finds the tenant\'s server, and a tenant whose placement row is gone is placed where its data is', { timeout: 180_000 }, async (t) => {
  const dir = serverDir(t);
  let s = await start(t, dir);
  await addTask(s.port, 'initech', 'kept on eu2');
  const backup = await runCli(['backup', path.join(dir, 'eu2.tdb'), '--server', 'eu2', '-c', s.configFile]);
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /^wrote .*eu2\.tdb: 1 tenants and the shared tables, \d+ rows/);
  const main = await runCli(['backup', path.join(dir, 'default.tdb'), '-c', s.configFile]);
  assert.match(main.stdout, /: 2 tenants and the shared tables/);
  const exported = await runCli(['tenants', 'export', 'initech', path.join(dir, 'initech.tdb'), '-c', s.configFile]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /^wrote .*initech\.tdb: initech, 1 rows/);
  // A whole backup restored into another server's empty database (--server), then read back from there.
  const withFresh = path.join(dir, 'with-fresh.yaml');
  writeFileSync(withFresh, readFileSync(s.configFile, 'utf8').replace('databases:\n', 'databases:\n  fresh:\n    dataDir: pg-fresh\n'));
  const restored = await runCli(['restore', path.join(dir, 'eu2.tdb'), '--server', 'fresh', '-c', withFresh]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /^restored .*eu2\.tdb: 1 tenants and the shared tables/);
  const again = await runCli(['backup', path.join(dir, 'fresh.tdb'), '--server', 'fresh', '-c', withFresh]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(/: (\d+) tenants and the shared tables, (\d+) rows/.exec(again.stdout)?.slice(1).join(' '), /: (\d+) tenants and the shared tables, (\d+) rows/.exec(backup.stdout)?.slice(1).join(' '));

  // The placement table loses initech's row (a default server restored from a backup, say): the next start finds its data on eu2.
  await s.service.stop();
  s = await start(t, dir);
  await query(s.superUrl('default'), "delete from public.tenantd_placement where schema = 'initech'");
  await s.service.stop();
  s = await start(t, dir);
  assert.equal(s.service.status().find((x) => x.schema === 'initech')!.server, 'eu2');
  assert.deepEqual((await tasks(s.port, 'initech')).map((x) => x.title), ['kept on eu2']);
});
