import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, redactUrls } from '../src/log/logger.ts';
import { clusterFork } from '../src/supervisor/cluster-fork.ts';
import type { WorkerHandle } from '../src/supervisor/worker-group.ts';
import type { PrimaryMessage } from '../src/worker/worker-messages.ts';
import { startService, twoProbeTenants } from './helpers/service.ts';
import { startServe } from './helpers/serve-process.ts';

const config = twoProbeTenants;

const unredactedUrl = /postgres(ql)?:\/\/[^:/@\s"]+:(?!\[Redacted\])[^@\s"]+@/i;

test("a worker's IPC messages carry only its own tenant's credentials, never the admin's", async (t) => {
  const sent: PrimaryMessage[] = [];
  const fork = (): WorkerHandle => {
    const worker = clusterFork();
    const send = worker.send.bind(worker);
    worker.send = (message: PrimaryMessage) => {
      sent.push(message);
      return send(message);
    };
    return worker;
  };
  const s = await startService(t, config, { fork });
  const admin = new URL(s.db.url);
  const starts = sent.filter((m): m is Extract<PrimaryMessage, { type: 'start' }> => m.type === 'start');
  assert.deepEqual(starts.map((m) => m.tenant.schema).sort(), ['acme', 'globex']);
  const everything = JSON.stringify(sent);
  assert.ok(!everything.includes(admin.password), 'no admin password in any message');
  assert.ok(!everything.includes(decodeURIComponent(admin.username)), 'no admin role in any message');
  const passwords = new Map(starts.map((m) => [m.tenant.schema, m.credentials.passwords[0]!]));
  for (const m of starts) {
    const url = new URL(m.credentials.url);
    assert.equal(url.password, '', 'the password travels beside the URL, not in it');
    assert.ok(m.credentials.passwords.every((p) => p.length >= 32), 'passwords are long');
    assert.equal(decodeURIComponent(url.username), `${s.db.name}_${m.tenant.schema}`);
    assert.equal(m.credentials.schema, m.tenant.schema);
    const other = m.tenant.schema === 'acme' ? 'globex' : 'acme';
    assert.ok(!JSON.stringify(m).includes(passwords.get(other)!), `${m.tenant.schema} does not carry ${other}'s password`);
  }
  assert.notEqual(passwords.get('acme'), passwords.get('globex'));
});

test('logs redact passwords, connection strings and tokens', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
  const log = createLogger('info', {}, sink);
  log.info({ password: 'hunter2', credentials: { url: 'postgres://a:hunter2@h/db' }, adminToken: 'tok-hunter2', db: { url: 'postgres://a:hunter2@h/db' } }, 'connecting');
  log.info('cannot reach postgres://tenantd:hunter2@db.internal:5432/tenantd');
  log.error({ err: new Error('failed for postgresql://x:hunter2@h/y') }, 'failed');
  const text = lines.join('');
  assert.ok(!text.includes('hunter2'), text);
  assert.equal(redactUrls('see postgres://u:p%40ss@h:5/d and postgresql://v:q@h/e'), 'see postgres://u:[Redacted]@h:5/d and postgresql://v:[Redacted]@h/e');
});

test('a running service prints no password or unredacted connection string, even when a tenant fails', async (t) => {
  // The broken tenant's app fails with an error that holds a connection string
  // with a password: it is printed (the failure's reason), redacted.
  const s = await startServe(t, { yaml: `${config}  - schema: broken\n    hosts: [broken.test]\n    settings: { failStart: "postgres://billing:s3cr3t-pw@billing.internal/ledger" }\n` });
  const admin = new URL(s.db.url);
  const output = s.output();
  assert.match(output, /worker failed to start/);
  assert.match(output, /cannot reach postgres:\/\/billing:\[Redacted\]@billing\.internal\/ledger/);
  assert.ok(!output.includes('s3cr3t-pw'), 'the failing app\'s password is never printed');
  assert.ok(!output.includes(admin.password), 'the admin password is never printed');
  assert.doesNotMatch(output, unredactedUrl);
});
