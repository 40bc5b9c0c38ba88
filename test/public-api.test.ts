// The package's public API as an application in its own repository uses it:
// `import … from 'tenantd'` resolves through package.json `exports` to the
// built module and its declarations, and a TypeScript app type-checks against
// them (a wrong use fails to compile).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'node:test';
import { tempDir } from './helpers/service.ts';

const root = path.resolve(import.meta.dirname, '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const app = (nameType: string) => `import { defineApp, DatabaseUnavailableError, type MigrationContext } from 'tenantd';
interface DB { notes: { id: number; text: string } }
export default defineApp<DB>((ctx) => {
  const name: ${nameType} = ctx.tenant.name;
  return async (_req, res) => {
    try {
      const rows = await ctx.db.selectFrom('notes').select(['id', 'text']).execute();
      res.end(JSON.stringify({ name, rows, settings: ctx.tenant.settings }));
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) res.setHeader('retry-after', String(error.retryAfter));
    }
  };
});
export const grant = (ctx: MigrationContext): string => ctx.sharedReaderRole;
`;

/** A consumer project with tenantd (this checkout) in its node_modules. */
function consumer(t: test.TestContext, source: string): string {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, path.join(dir, 'node_modules', 'tenantd'));
  symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'));
  writeFileSync(path.join(dir, 'package.json'), '{ "name": "my-app", "type": "module" }\n');
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] }, include: ['app.ts'] }));
  writeFileSync(path.join(dir, 'app.ts'), source);
  return dir;
}

test('an application in its own repository type-checks against tenantd\'s exported declarations; a wrong type fails', (t) => {
  const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-types.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stdout + built.stderr);
  const good = spawnSync(process.execPath, [tsc, '-p', consumer(t, app('string'))], { encoding: 'utf8' });
  assert.equal(good.status, 0, good.stdout);
  const bad = spawnSync(process.execPath, [tsc, '-p', consumer(t, app('number'))], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stdout, /app\.ts\(4,9\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test('at run time, import \'tenantd\' gives the helpers an application uses', async (t) => {
  const dir = consumer(t, '');
  writeFileSync(path.join(dir, 'probe.mjs'), "import * as api from 'tenantd';\nconsole.log(JSON.stringify(Object.keys(api).sort()));\n");
  const run = spawnSync(process.execPath, [path.join(dir, 'probe.mjs')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), ['DatabaseUnavailableError', 'TenantdError', 'defineApp']);
});
