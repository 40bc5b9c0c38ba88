// Workers run plain JavaScript: the runtime and the application are compiled
// once by the primary, and a changed application is compiled again on reload.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { startService } from './helpers/service.ts';

const app = (greeting: string) => `import type { AppContext } from '${path.resolve(import.meta.dirname, '../src/worker/app-context.ts')}';
const greeting: string = '${greeting}';
export default function (ctx: AppContext) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ greeting, tenant: ctx.tenant.schema, execArgv: process.execArgv, main: process.argv[1] }));
  };
}
`;

test('workers run a compiled bundle with no loader, and a changed TypeScript app is compiled again on reload', async (t) => {
  const s = await startService(t, 'app: app.ts\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n', { files: { 'app.ts': app('hello') } });
  const first = (await s.get('acme.test', '/')).json();
  assert.equal(first.greeting, 'hello');
  assert.ok(!first.execArgv.some((a: string) => /tsx|--import|--loader|--require|--experimental-loader/.test(a)), first.execArgv.join(' '));
  assert.match(first.main, /\.mjs$/, 'the worker runs a JavaScript bundle');
  assert.doesNotMatch(readFileSync(first.main, 'utf8'), /from ["']tsx/, 'the bundle does not import tsx');

  writeFileSync(path.join(s.dir, 'app.ts'), app('changed'));
  const reloaded = await s.service.reload();
  assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
  assert.deepEqual(reloaded.ok && reloaded.changed, ['acme'], 'a changed app gives the tenant new workers');
  assert.equal((await s.get('acme.test', '/')).json().greeting, 'changed');

  // A syntax error: the reload is refused in one line naming the file and line; the old workers serve.
  writeFileSync(path.join(s.dir, 'app.ts'), `${app('broken')}\nexport const oops = ;\n`);
  const refused = await s.service.reload();
  assert.equal(refused.ok, false);
  const error = refused.ok ? '' : refused.error;
  assert.equal(error, `TENANTD_BUILD_FAILED: cannot compile app.ts: ${path.join(s.dir, 'app.ts')}:10:20: Unexpected ";"`);
  assert.ok(!error.includes('\n'), 'one line');
  assert.equal((await s.get('acme.test', '/')).json().greeting, 'changed');
  const check = await runCli(['check', '-c', s.configFile]);
  assert.equal(check.code, 1);
  assert.equal(check.stderr, `tenantd: ${error}\n`, 'check refuses it the same way');

  // Unchanged source: the same bundle, nothing restarted.
  writeFileSync(path.join(s.dir, 'app.ts'), app('changed'));
  const same = await s.service.reload();
  assert.deepEqual(same.ok && same.unchanged, ['acme']);
});
