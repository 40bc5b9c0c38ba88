// What a person sees in a terminal: readable lines (time, level, tenant,
// message, the rest as key=value; a request as one line), from the primary and
// every worker alike; JSON lines wherever stdout is not a terminal, or when
// log.format says json.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { prettyLine } from '../src/log/pretty-line.ts';
import { bin } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/database.ts';
import { eventually, request } from './helpers/http.ts';
import { startServe } from './helpers/serve-process.ts';
import { probeApp, writeFiles } from './helpers/service.ts';

const tenants = `app: ${probeApp}\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n`;

test('a JSON log line becomes time, level, who, message and the rest as key=value; a request one line; an error its stack', () => {
  const time = new Date(2026, 10, 29, 14, 2, 3, 45).getTime();
  assert.equal(prettyLine(JSON.stringify({ level: 'info', time, pid: 1, role: 'primary', tenant: 'acme', msg: 'worker ready', workerPid: 7, port: 4000 }), false),
    '14:02:03.045 INFO  acme       worker ready  workerPid=7 port=4000');
  assert.equal(prettyLine(JSON.stringify({ level: 'info', time, component: 'router', access: { tenant: null, method: 'GET', path: '/x', status: 404, bytes: 17, durationMs: 1.25, requestId: 'r' }, msg: 'request' }), false),
    '14:02:03.045 INFO  router     GET /x 404 1.3ms 17B');
  assert.match(prettyLine(JSON.stringify({ level: 'info', time, component: 'router', access: { tenant: 'acme', method: 'GET', path: '/', status: 200 }, msg: 'request' }), false), /^14:02:03\.045 INFO  acme /, 'a request names its tenant');
  const error = prettyLine(JSON.stringify({ level: 'error', time, role: 'primary', msg: 'reload failed', err: { message: 'boom', stack: 'Error: boom\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)' } }), false);
  assert.equal(error, '14:02:03.045 ERROR primary    reload failed  err=boom\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)');
  assert.match(prettyLine(JSON.stringify({ level: 'warn', time, msg: 'x' }), true), /\x1b\[33mWARN \x1b\[0m/, 'warnings in yellow');
  assert.equal(prettyLine('plain text from an application', false), 'plain text from an application');
});

test('log.format: pretty prints readable lines from the primary and from its workers (an access line from a handed-off connection)', async (t) => {
  const s = await startServe(t, { yaml: `log:\n  format: pretty\n${tenants}`, until: /tenantd serving/ });
  // A kept-alive connection is handed to the worker, which writes the access line.
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  assert.equal((await request(s.port, { host: 'acme.test', path: '/whoami', agent })).status, 200);
  // The worker's access line, through the primary's formatter.
  const line = await eventually(() => s.output().split('\n').find((l) => / acme +GET \/whoami 200 /.test(l)), 5000, 'the worker\'s access line');
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} INFO  acme/);
  assert.match(s.output(), /^\d\d:\d\d:\d\d\.\d{3} INFO  primary +tenantd serving  listen=/m);
  assert.doesNotMatch(s.output(), /^\{"level"/m, 'no JSON line');
  assert.doesNotMatch(s.output(), /\x1b\[/, 'no colours where stdout is not a terminal');
});

test('with log.format auto, stdout that is a terminal gets readable lines in colour, and stdout that is not gets JSON', { skip: spawnSync('script', ['--version']).status !== 0 ? 'needs script (util-linux) for a terminal' : false }, async (t) => {
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = writeFiles(t, { 'tenantd.yaml': `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${db.url}\n${tenants}` });
  const config = path.join(dir, 'tenantd.yaml');
  // `script` gives the command a terminal and copies what it writes. Whether a
  // terminal shows colours is what TERM says (Node's hasColors reads it, and
  // NO_COLOR, CI…): the child gets a colour terminal's environment whatever
  // this run's is.
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  for (const name of ['NO_COLOR', 'NODE_DISABLE_COLORS', 'FORCE_COLOR', 'CI']) delete env[name];
  const child = spawn('script', ['-qfec', `${process.execPath} ${bin} serve -c ${config}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  t.after(() => child.kill('SIGKILL'));
  await eventually(() => (/tenantd serving/.test(output) ? true : undefined), 30_000, 'the service on a terminal');
  assert.match(output, /\x1b\[32mINFO \x1b\[0m primary +tenantd serving/);
  assert.doesNotMatch(output, /\{"level"/);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  // The same config, stdout a pipe: JSON.
  const json = await startServe(t, { yaml: tenants });
  assert.match(json.output(), /^\{"level":"info".*"msg":"tenantd serving"/m);
});
