// Reload planning as pure functions, table-driven: which sites a reload starts,
// which it leaves alone, which keys wait for a restart (planReload); and, once
// the new workers came up or failed, which sites serve and which drain
// (placeSites). No database, no process: the service only executes these.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { loadConfig } from '../src/config/load-config.ts';
import type { Config } from '../src/config/config.ts';
import { placeSites, planReload, type ReloadState, type Started } from '../src/service/reload-plan.ts';
import { tempDir } from './helpers/service.ts';

const base = `listen: 127.0.0.1:8080
admin: 127.0.0.1:9080
adminToken: aaaaaaaaaaaaaaaaaaaa
database:
  url: postgres://admin:pw@db.internal/app
  poolSize: 5
  connectionLimit: 20
workers:
  startConcurrency: 2
log:
  level: info
  access: true
tenants:
  - schema: acme
    hosts: [acme.test]
  - schema: globex
    hosts: [globex.test]
`;

/** The running config and the edited one, from files in one folder (relative paths resolve alike). */
function configs(t: TestContext, edit: (yaml: string) => string): [Config, Config] {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'current.yaml'), base);
  writeFileSync(path.join(dir, 'next.yaml'), edit(base));
  return [loadConfig(path.join(dir, 'current.yaml'), {}), loadConfig(path.join(dir, 'next.yaml'), {})];
}

const quiet: ReloadState = { rotated: false, appChanged: false, unavailable: new Set() };
const names = (sites: readonly { schema: string }[]) => sites.map((s) => s.schema);

const cases: { name: string; edit: (yaml: string) => string; state?: Partial<ReloadState>; added?: string[]; removed?: string[]; changed?: string[]; restart?: string[]; check?: (next: Config, current: Config) => void }[] = [
  { name: 'nothing changed', edit: (y) => y, changed: [] },
  { name: 'a tenant added', edit: (y) => `${y}  - schema: initech\n    hosts: [initech.test]\n`, added: ['initech'], changed: [] },
  { name: 'a tenant removed', edit: (y) => y.replace('  - schema: globex\n    hosts: [globex.test]\n', ''), removed: ['globex'], changed: [] },
  { name: 'a tenant\'s hosts changed', edit: (y) => y.replace('[globex.test]', '[globex.test, www.globex.test]'), changed: ['globex'] },
  { name: 'a tenant\'s settings changed', edit: (y) => y.replace('    hosts: [acme.test]\n', '    hosts: [acme.test]\n    settings: { theme: red }\n'), changed: ['acme'] },
  { name: 'the app rebuilt to a new bundle', edit: (y) => y, state: { appChanged: true }, changed: ['acme', 'globex'] },
  { name: 'the credentials secret rotated', edit: (y) => y, state: { rotated: true }, changed: ['acme', 'globex'] },
  { name: 'a site that could not be provisioned is tried again', edit: (y) => y, state: { unavailable: new Set(['globex']) }, changed: ['globex'] },
  { name: 'database.poolSize: every worker replaced', edit: (y) => y.replace('poolSize: 5', 'poolSize: 3'), changed: ['acme', 'globex'] },
  { name: 'log.level: every worker replaced, the new level in force', edit: (y) => y.replace('level: info', 'level: debug'), changed: ['acme', 'globex'], check: (next) => assert.equal(next.log.level, 'debug') },
  { name: 'log.access: applied in place', edit: (y) => y.replace('access: true', 'access: false'), changed: [], check: (next) => assert.equal(next.log.access, false) },
  { name: 'workers.startConcurrency: only paces starts', edit: (y) => y.replace('startConcurrency: 2', 'startConcurrency: 4'), changed: [], check: (next) => assert.equal(next.workers.startConcurrency, 4) },
  { name: 'workers.stopTimeout: every worker replaced', edit: (y) => y.replace('workers:\n', 'workers:\n  stopTimeout: 3s\n'), changed: ['acme', 'globex'] },
  { name: 'router limits: applied in place', edit: (y) => `${y}router:\n  bodyLimit: 2m\n`, changed: [], check: (next) => assert.equal(next.router.bodyLimit, 2 * 1024 * 1024) },
  { name: 'listen: at the next restart', edit: (y) => y.replace('127.0.0.1:8080', '127.0.0.1:8081'), changed: [], restart: ['listen'], check: (next, current) => assert.deepEqual(next.listen, current.listen) },
  { name: 'adminToken: at the next restart', edit: (y) => y.replace('aaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbb'), changed: [], restart: ['adminToken'], check: (next) => assert.equal(next.adminToken, 'aaaaaaaaaaaaaaaaaaaa') },
  { name: 'database.url and connectionLimit: at the next restart', edit: (y) => y.replace('db.internal', 'db2.internal').replace('connectionLimit: 20', 'connectionLimit: 30'), changed: [], restart: ['database.url', 'database.connectionLimit'], check: (next) => assert.deepEqual([next.database.url, next.database.connectionLimit], ['postgres://admin:pw@db.internal/app', 20]) },
  { name: 'router.maxHeaderSize: at the next restart', edit: (y) => `${y}router:\n  maxHeaderSize: 32k\n`, changed: [], restart: ['router.maxHeaderSize'] },
];

for (const c of cases) {
  test(`planReload: ${c.name}`, (t) => {
    const [current, loaded] = configs(t, c.edit);
    const plan = planReload(current, loaded, { ...quiet, ...c.state });
    assert.deepEqual(names(plan.added), c.added ?? []);
    assert.deepEqual(names(plan.removed), c.removed ?? []);
    assert.deepEqual(names(plan.changed).sort(), c.changed ?? []);
    assert.deepEqual(plan.restartRequired, c.restart ?? []);
    const every = [...plan.added, ...plan.changed, ...plan.unchanged].map((s) => s.schema).sort();
    assert.deepEqual(every, names(plan.next.tenants).sort(), 'every site of the new config is added, changed or unchanged');
    c.check?.(plan.next, current);
    assert.ok(Object.isFrozen(plan.next) && Object.isFrozen(plan.next.database));
  });
}

// placeSites: strings stand for running sites (old-acme) and started ones (new-acme).
const placements: { name: string; edit: (yaml: string) => string; started: Record<string, boolean>; sites: Record<string, string>; retired: string[]; failed: string[] }[] = [
  { name: 'a healthy replacement takes over; the old one drains', edit: (y) => y, started: { acme: true }, sites: { acme: 'new-acme', globex: 'old-globex' }, retired: ['old-acme'], failed: [] },
  { name: 'a changed site whose new workers fail keeps its old ones', edit: (y) => y, started: { acme: false }, sites: { acme: 'old-acme', globex: 'old-globex' }, retired: ['new-acme'], failed: ['acme'] },
  { name: 'an added site that fails is routed (503) and reported', edit: (y) => `${y}  - schema: initech\n    hosts: [initech.test]\n`, started: { initech: false }, sites: { acme: 'old-acme', globex: 'old-globex', initech: 'new-initech' }, retired: [], failed: ['initech'] },
  { name: 'a removed site drains', edit: (y) => y.replace('  - schema: globex\n    hosts: [globex.test]\n', ''), started: {}, sites: { acme: 'old-acme' }, retired: ['old-globex'], failed: [] },
];

for (const p of placements) {
  test(`placeSites: ${p.name}`, (t) => {
    const [current, loaded] = configs(t, p.edit);
    const plan = planReload(current, loaded, quiet);
    const running = new Map([['acme', 'old-acme'], ['globex', 'old-globex']]);
    const started = new Map(Object.entries(p.started).map(([schema, healthy]): [string, Started<string>] => [schema,
      healthy ? { site: `new-${schema}`, healthy } : { site: `new-${schema}`, healthy, error: 'workers failed to start' }]));
    const placed = placeSites(plan.next, running, started, plan.removed);
    assert.deepEqual(Object.fromEntries(placed.sites), p.sites);
    assert.deepEqual(placed.retired, p.retired);
    assert.deepEqual(placed.failed.map((f) => f.schema), p.failed);
  });
}
