import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { demoApp, loadConfig } from '../src/config/load-config.ts';
import { TenantdError } from '../src/base/errors.ts';
import { runCli } from './helpers/cli.ts';
import { writeFiles } from './helpers/service.ts';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TenantdError, String(error));
    assert.equal(error.code, 'TENANTD_CONFIG_INVALID');
    return error.message.split('\n').map((l) => l.trim()).filter((l) => !/^TENANTD_CONFIG_INVALID: \d+ problems$/.test(l)).map((l) => l.replace(/^TENANTD_CONFIG_INVALID: /, ''));
  }
  assert.fail('expected the config to be rejected');
}

test('a minimal config gets the documented defaults, frozen', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [Acme.Test.]\n' });
  const config = loadConfig(path.join(dir, 'tenantd.yaml'), {});
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9080 });
  assert.equal(config.database.url, undefined);
  assert.equal(config.database.dataDir, path.join(dir, 'data'));
  assert.deepEqual(config.databases, [{ name: 'default', url: undefined, dataDir: path.join(dir, 'data'), port: undefined }]);
  assert.equal(config.placement, 'default');
  assert.equal(config.app, demoApp);
  assert.equal(config.router.bodyLimit, 1024 * 1024);
  assert.equal(config.router.upstreamTimeout, 60_000);
  assert.deepEqual([config.workers.min, config.workers.max, config.workers.idleTimeout], [1, 1, 600_000]);
  assert.ok(config.workers.maxLive >= 1);
  assert.deepEqual(config.tenants[0], { schema: 'acme', name: 'acme', hosts: ['acme.test'], settings: {}, allowTrace: false, min: 1, max: 1 });
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.tenants[0]) && Object.isFrozen(config.router));
});

test('TENANTD_DATABASE_URL overrides database.url', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': 'database:\n  url: postgres://a:b@db1/x\n' });
  assert.equal(loadConfig(path.join(dir, 'tenantd.yaml'), { TENANTD_DATABASE_URL: 'postgres://c:d@db2/y' }).database.url, 'postgres://c:d@db2/y');
  assert.equal(loadConfig(path.join(dir, 'tenantd.yaml'), {}).database.url, 'postgres://a:b@db1/x');
});

test('every config error names the file, the line, the key path and what was expected', (t) => {
  const dir = writeFiles(t, {
    'tenantd.yaml': [
      'listen: 0.0.0.0:8080',           // 1
      'lisen: 8081',                    // 2
      'router:',                        // 3
      '  bodyLimit: lots',              // 4
      'tenants:',                       // 5
      '  - schema: acme',               // 6
      '    hosts: [acme.test]',         // 7
      '  - schema: Pg_Bad',             // 8
      '    hosts:',                     // 9
      '      - ok.test',                // 10
      '      - "a..b"',                 // 11
      '  - schema: public',             // 12
      '    hosts: [p.test]',            // 13
      '    processes: two',             // 14
    ].join('\n'),
  });
  assert.deepEqual(problems(() => loadConfig(path.join(dir, 'tenantd.yaml'), {})).sort(), [
    'lisen at tenantd.yaml:2 — unknown key',
    'router.bodyLimit at tenantd.yaml:4 — "lots" is not a size: expected bytes or a number with k, m or g',
    'tenants[1].hosts[1] at tenantd.yaml:11 — "a..b" is not a host name (letters, digits, hyphens, dots; "*." only as a prefix; no port)',
    'tenants[1].schema at tenantd.yaml:8 — "Pg_Bad" is not a tenant schema name: expected ^[a-z][a-z0-9_]{0,47}$, not pg_*, not public',
    'tenants[2].processes at tenantd.yaml:14 — expected number, got string',
    'tenants[2].schema at tenantd.yaml:12 — "public" is not a tenant schema name: expected ^[a-z][a-z0-9_]{0,47}$, not pg_*, not public',
  ]);
});

test('a worker port range must be "from-to" above 1023', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': 'workers:\n  ports: "9000-8000"\n' });
  assert.deepEqual(problems(() => loadConfig(path.join(dir, 'tenantd.yaml'), {})), [
    'workers.ports at tenantd.yaml:2 — "9000-8000" is not a port range: expected "from-to" within 1024-65535, such as "20000-20999"',
  ]);
  const ok = writeFiles(t, { 'tenantd.yaml': 'workers:\n  ports: 20000-20099\n' });
  assert.deepEqual(loadConfig(path.join(ok, 'tenantd.yaml'), {}).workers.ports, { from: 20000, to: 20099 });
});

test('a missing application module or migrations folder is a config error, as in nginx -t', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': 'app: apps/nope.ts\nmigrations:\n  tenant: gone\n', 'shared/.keep': '' });
  assert.deepEqual(problems(() => loadConfig(path.join(dir, 'tenantd.yaml'), {})), [
    'app at tenantd.yaml:1 — no file apps/nope.ts: expected the application module (.ts or .js)',
    'migrations.tenant at tenantd.yaml:3 — no folder gone: expected a folder of migration files',
  ]);
});

test('YAML syntax errors name the line', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [acme.test\n' });
  const [line] = problems(() => loadConfig(path.join(dir, 'tenantd.yaml'), {}));
  assert.match(line!, /^tenantd\.yaml:\d+ — /);
});

test('two tenants may not claim the same host or schema, across the config and tenantsDir', (t) => {
  const dir = writeFiles(t, {
    'tenantd.yaml': 'public:\n  hosts: [www.test]\ntenants:\n  - schema: acme\n    hosts: [acme.test, "*.acme.test"]\n  - schema: globex\n    hosts: [ACME.test.]\ntenantsDir: tenants.d\n',
    'tenants.d/a.yaml': 'schema: acme\nhosts: [other.test]\n',
    'tenants.d/b.yaml': 'schema: initech\nhosts:\n  - initech.test\n  - "*.acme.test"\n  - www.test\n',
  });
  assert.deepEqual(problems(() => loadConfig(path.join(dir, 'tenantd.yaml'), {})), [
    'tenants[1].hosts[0] at tenantd.yaml:7 — host "acme.test" is already claimed by tenant acme',
    'schema at tenants.d/a.yaml:1 — schema "acme" is already used at tenantd.yaml:4',
    'hosts[1] at tenants.d/b.yaml:4 — host "*.acme.test" is already claimed by tenant acme',
    'hosts[2] at tenants.d/b.yaml:5 — host "www.test" is already claimed by the public site',
  ]);
});

test('tenantsDir adds one tenant per YAML file, and its errors name that file', (t) => {
  const dir = writeFiles(t, {
    'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [acme.test]\ntenantsDir: tenants.d\n',
    'tenants.d/globex.yaml': 'schema: globex\nname: Globex\nhosts: [globex.test]\nsettings: { theme: green }\nprocesses: 2\n',
    'tenants.d/notes.txt': 'not a tenant',
  });
  const config = loadConfig(path.join(dir, 'tenantd.yaml'), {});
  // The former `processes: 2` is min 2, max 2.
  assert.deepEqual(config.tenants.map((x) => [x.schema, x.name, x.min, x.max]), [['acme', 'acme', 1, 1], ['globex', 'Globex', 2, 2]]);
  assert.deepEqual(config.tenants[1]!.settings, { theme: 'green' });

  const bad = writeFiles(t, {
    'tenantd.yaml': 'tenantsDir: tenants.d\n',
    'tenants.d/x.yaml': 'schema: x\nhosts: [x.test]\ncolour: red\n',
  });
  assert.deepEqual(problems(() => loadConfig(path.join(bad, 'tenantd.yaml'), {})), ['colour at tenants.d/x.yaml:3 — unknown key']);
});

test('tenantd check exits 0 for a valid config and 1 with every error, without a stack trace', async (t) => {
  const good = writeFiles(t, { 'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [acme.test]\n' });
  const ok = await runCli(['check', '-c', path.join(good, 'tenantd.yaml')]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /ok \(1 tenants, 1 hosts, 2 migrations\)/);

  const bad = writeFiles(t, { 'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [acme.test]\n    colour: red\n' });
  const viaEnv = await runCli(['check'], { TENANTD_CONFIG: path.join(bad, 'tenantd.yaml') });
  assert.equal(viaEnv.code, 1);
  assert.equal(viaEnv.stderr, 'tenantd: TENANTD_CONFIG_INVALID: tenants[0].colour at tenantd.yaml:4 — unknown key\n');

  const missing = await runCli(['check', '-c', path.join(good, 'nope.yaml')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'tenantd: TENANTD_CONFIG_UNREADABLE: cannot read nope.yaml: ENOENT\n');
});

test('workers.min and max per service and per tenant; processes beside them is refused naming the new keys', (t) => {
  const dir = writeFiles(t, {
    'tenantd.yaml': 'workers:\n  min: 0\n  max: 3\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n    min: 2\n',
  });
  const config = loadConfig(path.join(dir, 'tenantd.yaml'), {});
  assert.deepEqual(config.tenants.map((x) => [x.schema, x.min, x.max]), [['acme', 0, 3], ['globex', 2, 3]]);
  const bad = writeFiles(t, { 'tenantd.yaml': 'tenants:\n  - schema: acme\n    hosts: [acme.test]\n    processes: 2\n    max: 4\n' });
  assert.throws(() => loadConfig(path.join(bad, 'tenantd.yaml'), {}), {
    message: 'TENANTD_CONFIG_INVALID: tenants[0].processes at tenantd.yaml:4 — "processes" was replaced by "min" and "max" (processes: N is min: N, max: N); give one or the other',
  });
});

test('databases names further servers, each a URL or an embedded dataDir; a tenant may name one; mistakes are one line each', (t) => {
  const dir = writeFiles(t, { 'tenantd.yaml': [
    'databases:',
    '  eu2:',
    '    dataDir: data-eu2',
    '  big:',
    '    url: postgres://a:b@db9/x',
    'placement: fewest',
    'tenants:',
    '  - schema: acme',
    '    hosts: [acme.test]',
    '    database: eu2',
    '',
  ].join('\n') });
  const config = loadConfig(path.join(dir, 'tenantd.yaml'), {});
  assert.deepEqual(config.databases.map((d) => [d.name, d.url, d.dataDir]), [
    ['default', undefined, path.join(dir, 'data')], ['eu2', undefined, path.join(dir, 'data-eu2')], ['big', 'postgres://a:b@db9/x', ''],
  ]);
  assert.equal(config.placement, 'fewest');
  assert.equal(config.tenants[0]!.database, 'eu2');

  const bad = writeFiles(t, { 'tenantd.yaml': [
    'databases:',
    '  default:',
    '    dataDir: x',
    '  twin:',
    '    dataDir: data',
    '  both:',
    '    url: postgres://a:b@h/x',
    '    dataDir: y',
    '  none: {}',
    'tenants:',
    '  - schema: acme',
    '    hosts: [acme.test]',
    '    database: nowhere',
    '',
  ].join('\n') });
  assert.throws(() => loadConfig(path.join(bad, 'tenantd.yaml'), {}), (error: Error) => {
    assert.match(error.message, /databases\.default.*the default server is the `database` section/);
    assert.match(error.message, /databases\.twin.*the same server as default/);
    assert.match(error.message, /databases\.both.*not both/);
    assert.match(error.message, /databases\.none.*expected url, or dataDir/);
    assert.match(error.message, /tenants\[0\]\.database.*no database server "nowhere": expected default or a name under databases \(default\)/);
    return true;
  });
});
