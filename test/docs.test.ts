// The repository's documentation stands on its own and says what runs: every
// relative link in the README, docs/ and examples/ names a file or folder that
// exists, no page sends the reader outside the repository, the README's quick
// start works as written, and the admin API's documented shape is what it
// answers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { retryAfterSeconds } from '../src/base/retry-after.ts';
import { groupStates, workerStates } from '../src/supervisor/worker-types.ts';
import { createTestDatabase } from './helpers/database.ts';
import { request } from './helpers/http.ts';
import { startServe } from './helpers/serve-process.ts';
import { startService } from './helpers/service.ts';

const root = path.resolve(import.meta.dirname, '..');
const pages = [
  'README.md',
  ...readdirSync(path.join(root, 'docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`),
  ...readdirSync(path.join(root, 'examples')).map((n) => `examples/${n}/README.md`),
];

test('every relative link in the README, docs/ and examples/ resolves to a file in the repository', () => {
  assert.ok(pages.length >= 9, pages.join(', '));
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(path.join(root, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!) || target!.startsWith('#')) continue;
      const file = path.resolve(root, path.dirname(page), target!.split('#')[0]!);
      if (!existsSync(file)) broken.push(`${page}: ${target}`);
      else if (!file.startsWith(`${root}${path.sep}`)) broken.push(`${page}: ${target} (outside the repository)`);
    }
    assert.doesNotMatch(text, /SPEC\.md|shared project documents/, `${page} points outside the repository`);
  }
  assert.deepEqual(broken, []);
});

test('the README quick start\'s curl commands work as written against the demo (on the test\'s port)', { skip: spawnSync('curl', ['--version']).status !== 0 ? 'needs curl' : false }, async (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const commands = [...readme.matchAll(/^(curl .*?)(?:\s+#.*)?$/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 4, commands.join('\n'));
// The demo's own config, on the test's ports and database.
  const demo = readFileSync(path.join(root, 'config', 'tenantd.yaml'), 'utf8').replace(/^(listen|admin):.*\n/gm, '').replace(/^database:\n  dataDir: .*\n/m, '');
  const s = await startServe(t, { yaml: demo, files: { 'tenants.d/README.md': 'one tenant per .yaml file\n' } });
  const outputs: string[] = [];
  for (const command of commands) {
    const result = spawnSync('sh', ['-c', command.replaceAll(':8080', `:${s.port}`)], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${command}: ${result.stderr}`);
    outputs.push(result.stdout);
  }
  assert.match(outputs[0]!, /"title":"ship anvils"/);
  assert.match(outputs[1]!, /"title":"ship anvils"/);
  assert.equal(outputs[2]!.trim(), '[]');
  assert.match(outputs[3]!, /Welcome to tenantd/);
});

test('docs/commands.md names every tenant and worker state and every field /status answers; the docs quote the one Retry-After', async (t) => {
  const commands = readFileSync(path.join(root, 'docs', 'commands.md'), 'utf8');
  const statusRow = commands.split('\n').find((line) => line.startsWith('| `GET /status`'))!;
  for (const state of [...groupStates, ...workerStates]) assert.match(statusRow, new RegExp(`\`${state}\``), state);
  const s = await startService(t, `tenants:\n  - schema: acme\n    hosts: [acme.test]\n`);
  const fields = new Set<string>();
  const walk = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value && typeof value === 'object') for (const [key, inner] of Object.entries(value)) {
      // `sites` is keyed by state, named above.
      if (!(groupStates as readonly string[]).includes(key)) fields.add(key);
      walk(inner);
    }
  };
  walk((await request(s.service.adminAddress.port, { host: '127.0.0.1', path: '/status' })).json());
  for (const field of fields) assert.match(statusRow, new RegExp(`"${field}"`), `/status field ${field}`);
  for (const page of pages) {
    for (const [, seconds] of readFileSync(path.join(root, page), 'utf8').matchAll(/Retry-After: (\d+)/g)) assert.equal(Number(seconds), retryAfterSeconds, page);
  }
  for (const code of ['0', '1', '2', '70']) assert.match(commands, new RegExp(`^\\| ${code} \\|`, 'm'), `exit code ${code}`);
});

test('every tenantd command of docs/operations.md\'s backup section runs as written, in order, against the demo', { timeout: 180_000 }, async (t) => {
  const text = readFileSync(path.join(root, 'docs', 'operations.md'), 'utf8');
  const section = text.slice(text.indexOf('## Backup and restore'), text.indexOf('\n## ', text.indexOf('## Backup and restore') + 5));
  const commands = [...section.matchAll(/^npx tenantd (.*?)(?:\s+#.*)?$/gm)].map((m) => m[1]!.split(/\s+/));
  assert.ok(commands.length >= 9, commands.map((c) => c.join(' ')).join('\n'));
  const tenants = ['acme', 'globex', 'hooli'].map((x) => `  - schema: ${x}\n    hosts: [${x}.test]\n`).join('');
  const s = await startServe(t, { yaml: `tenantsDir: tenants.d\ntenants:\n${tenants}`, files: { 'tenants.d/README.md': 'tenants\n' } });
  await request(s.port, { host: 'acme.test', method: 'POST', path: '/api/tasks', body: '{"title":"documented"}', headers: { 'content-type': 'application/json' } });
  // The drill's empty database: the same config, another database.
  const fresh = await createTestDatabase();
  t.after(() => fresh.drop());
  const freshConfig = path.join(s.dir, 'fresh.yaml');
  writeFileSync(freshConfig, readFileSync(s.configFile, 'utf8').replace(s.db.url, fresh.url).replace(/^listen: .*$/m, 'listen: 127.0.0.1:0').replace(/^admin: .*$/m, 'admin: 127.0.0.1:0'));
  let drill = false;
  for (const args of commands) {
    // From the restore drill on, the commands run against the empty database.
    if (args[0] === 'restore' && args.length === 2 && !args[1]!.startsWith('--')) drill = true;
    const config: string = drill ? freshConfig : s.configFile;
    if (args[0] === 'serve') {
      const served = await startServe(t, { yaml: readFileSync(freshConfig, 'utf8').replace(/^(listen|admin):.*\n/gm, '').replace(/^database:\n  url: .*\n/m, ''), db: fresh, files: { 'tenants.d/README.md': 'tenants\n' } });
      const reply = await request(served.port, { host: 'acme.test', path: '/api/tasks' });
      assert.match(reply.body, /documented/, 'the restored database serves the backup\'s data');
      continue;
    }
    const result: { status: number | null; stderr: string } = spawnSync(process.execPath, [path.join(root, 'bin', 'tenantd.js'), ...args], { cwd: s.dir, encoding: 'utf8', env: { ...process.env, TENANTD_CONFIG: config } });
    assert.equal(result.status, 0, `tenantd ${args.join(' ')}: ${result.stderr}`);
  }
});
