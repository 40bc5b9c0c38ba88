// npm test: runs every test/*.test.ts (named one by one, so none is skipped) on
// one PostgreSQL: TENANTD_DATABASE_URL if set (a role that may create databases
// and roles), else an embedded server in a temporary folder, stopped afterwards.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedServer } from '../src/db/embedded/embedded-server.ts';
import { superUrlOf } from '../test/helpers/embedded-superuser.ts';

const root = path.resolve(import.meta.dirname, '..');
// Arguments: parts of test file names to run (default all); --flags go to node --test.
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = readdirSync(path.join(root, 'test'))
  .filter((name) => name.endsWith('.test.ts'))
  .filter((name) => only.length === 0 || only.some((o) => name.includes(o)))
  .sort()
  .map((name) => path.join('test', name));
if (files.length === 0) {
  console.error('no test files found under test/');
  process.exit(1);
}

let server: EmbeddedServer | undefined;
let dataDir: string | undefined;
let superUrl = process.env.TENANTD_DATABASE_URL;
if (!superUrl) {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-test-'));
  // Run as root, the cluster runs as postgres, who must pass through this folder.
  chmodSync(dataDir, 0o711);
  server = await EmbeddedServer.start({ dataDir: path.join(dataDir, 'data') });
  superUrl = superUrlOf(server, path.join(dataDir, 'data'));
}
const env: NodeJS.ProcessEnv = { ...process.env, TENANTD_TEST_DATABASE_URL: superUrl };
delete env.TENANTD_DATABASE_URL;

console.log(`# test files: ${files.length} (${files.map((f) => path.basename(f)).join(' ')})`);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], { cwd: root, env, stdio: 'inherit' });
const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await server?.stop();
if (dataDir) rmSync(dataDir, { recursive: true, force: true });
process.exit(code);
