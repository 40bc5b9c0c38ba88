// Certificates by ACME, end to end against a real CA: Debian's pebble, with
// pebble-challtestsrv as its DNS. tenantd answers HTTP-01 on its plain
// listener, keeps what it was issued in the database (keys sealed), renews
// with no failed request, and a second node on the same database serves the
// same certificate without ordering. Clients verify by name against pebble's
// root (curl --cacert, Node's TLS client).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import tls from 'node:tls';
import pg from 'pg';
import { freePort } from '../src/base/free-port.ts';
import { orderBackoff, renewalTime } from '../src/acme/certificate-manager.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { runCli } from './helpers/cli.ts';
import { eventually } from './helpers/http.ts';
import { havePebble, startPebble, type Pebble } from './helpers/pebble.ts';
import { probeApp, startService, tempDir, type RunningService } from './helpers/service.ts';
import { RawConnection } from './helpers/raw-http.ts';

// CI installs pebble and must run these (TENANTD_REQUIRE_BROWSER: every real part required).
const skip = havePebble || process.env.TENANTD_REQUIRE_BROWSER === '1' ? false : 'needs pebble and pebble-challtestsrv (apt-get install pebble)';

function config(pebble: Pebble, tenants: string, acme = ''): string {
  return `app: ${probeApp}
tls:
  listen: 127.0.0.1:0
  acme:
    directory: ${pebble.directory}
    email: ops@example.com
    caRoot: ${pebble.apiCaFile}
${acme}${tenants}`;
}

const acmeOnly = `tenants:
  - schema: acme
    hosts: [acme.test]
`;

/** The certificate `host` is served with on `port`, verified by name against `root`; undefined when the handshake fails. */
function servedCertificate(port: number, host: string, root: string): Promise<X509Certificate | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: host, ca: root, ALPNProtocols: ['http/1.1'] }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(raw));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

/** curl over HTTPS, verifying `host` by name against the root file. */
function curl(port: number, host: string, rootFile: string, route = '/whoami'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--cacert', rootFile, '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}${route}`], (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function status(s: RunningService, host: string) {
  for (const site of s.service.status()) for (const c of site.certificates ?? []) if (c.host === host) return c;
  return undefined;
}

test("the README's HTTPS in three lines is a valid config: Let's Encrypt, every host ordered, plain HTTP redirected", (t) => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### HTTPS on a machine with a public name'));
  const block = /```yaml\n([^`]+)```/.exec(section)?.[1];
  assert.ok(block, 'the README shows the config');
  assert.equal(block.trim().split('\n').length, 3);
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'tenantd.yaml'), `listen: 0.0.0.0:80\n${block}tenants:\n  - schema: acme\n    hosts: [acme.example.com]\n`);
  const loaded = loadConfig(path.join(dir, 'tenantd.yaml'), {});
  assert.equal(loaded.tls?.acme?.directory, 'https://acme-v02.api.letsencrypt.org/directory');
  assert.equal(loaded.tls?.listen.port, 443);
  assert.equal(loaded.tls?.redirect, true);
  assert.deepEqual(loaded.tls?.acme?.except, []);
});

test('renewal at two thirds of the life, and the backoff after failed orders', () => {
  const day = 86_400_000;
  assert.equal(renewalTime(0, 90 * day), 60 * day);
  assert.equal(orderBackoff(1), 60_000);
  assert.equal(orderBackoff(2), 120_000);
  assert.equal(orderBackoff(20), 6 * 3_600_000);
});

test('ACME with pebble: a host gets a certificate at start and one added by reload gets its own; curl verifies both by name; renewal replaces it with no failed request; a second node serves the same one without ordering; an order the CA fails is shown with its error and next try, others unaffected; the hourly limit holds', { skip, timeout: 180_000 }, async (t) => {
  const listen = await freePort();
  const pebble = await startPebble(t, { httpPort: listen });
  const shared = tempDir(t);
  const secretFile = path.join(shared, 'credentials.secret');
  writeFileSync(secretFile, 'a shared secret of the two nodes, long enough\n', { mode: 0o600 });
  const database = `  secretFile: ${secretFile}\n`;
  const first = await startService(t, config(pebble, acmeOnly, '    ordersPerHour: 5\n'), { listen: `127.0.0.1:${listen}`, database });
  const port = first.service.tlsAddress.port;

  // At start: acme.test is ordered off the request path, then served.
  const issued = await eventually(async () => {
    const c = await servedCertificate(port, 'acme.test', pebble.root);
    return c instanceof X509Certificate ? c : undefined;
  }, 60_000, `acme.test's certificate (${pebble.output().slice(-2000)})`);
  assert.ok(issued.checkHost('acme.test'));
  const byCurl = await curl(port, 'acme.test', pebble.rootFile);
  assert.equal(byCurl.code, 0, byCurl.stderr);
  assert.equal(JSON.parse(byCurl.stdout).schema, 'acme');
  const acmeState = await status(first, 'acme.test');
  assert.equal(acmeState?.file, null);
  assert.equal(acmeState?.acme?.state, 'valid');
  assert.equal(acmeState?.expires, new Date(issued.validTo).toISOString());
  assert.equal(acmeState?.acme?.renewAt, new Date(renewalTime(Date.parse(issued.validFrom), Date.parse(issued.validTo))).toISOString());

  // Stored in the database, its key sealed: no PEM private key in the table.
  const c = new pg.Client({ connectionString: first.db.url });
  c.on('error', () => {});
  await c.connect();
  const row = (await c.query('select cert, key from public.tenantd_certificates where host = $1', ['acme.test'])).rows[0];
  assert.match(row.cert, /BEGIN CERTIFICATE/);
  assert.doesNotMatch(row.key.toString('latin1'), /PRIVATE KEY/);
  assert.equal((await c.query('select count(*)::int as n from public.tenantd_acme_accounts')).rows[0].n, 1);
  await c.end();

  // A tenant added by reload gets its certificate.
  writeFileSync(first.configFile, readConfig(first).replace(acmeOnly, `${acmeOnly}  - schema: globex\n    hosts: [globex.test]\n`));
  assert.equal((await first.service.reload()).ok, true);
  await eventually(async () => ((await curl(port, 'globex.test', pebble.rootFile)).code === 0 ? true : undefined), 60_000, 'globex.test over HTTPS');
  assert.equal(JSON.parse((await curl(port, 'globex.test', pebble.rootFile)).stdout).schema, 'globex');

  // Renewal (forced, as at two thirds of its life) while clients keep connecting: none fails.
  let failures = 0;
  let requests = 0;
  let renewing = true;
  const load = (async () => {
    while (renewing) {
      const reply = await curl(port, 'acme.test', pebble.rootFile);
      requests += 1;
      if (reply.code !== 0) failures += 1;
    }
  })();
  const renewed = await runCli(['certs', 'renew', 'acme.test', '-c', cliConfig(first)]);
  renewing = false;
  await load;
  assert.equal(renewed.code, 0, renewed.stderr + renewed.stdout);
  assert.match(renewed.stdout, /acme\.test: a new certificate is served/);
  assert.ok(requests > 0);
  assert.equal(failures, 0, `${failures} of ${requests} HTTPS requests failed during the renewal`);
  const after = await servedCertificate(port, 'acme.test', pebble.root);
  assert.ok(after instanceof X509Certificate);
  assert.notEqual(after.serialNumber, issued.serialNumber, 'the renewed certificate is served');

  // A second node on the same database (and secret) serves it, without ordering.
  const second = await startService(t, config(pebble, `${acmeOnly}  - schema: globex\n    hosts: [globex.test]\n`), { db: first.db, database });
  const fromSecond = await servedCertificate(second.service.tlsAddress.port, 'acme.test', pebble.root);
  assert.ok(fromSecond instanceof X509Certificate, JSON.stringify(fromSecond));
  assert.equal(fromSecond.serialNumber, after.serialNumber);
  assert.deepEqual(second.service.metricsText().match(/tenantd_acme_orders_total\{outcome="issued"\} \d+/)?.[0], 'tenantd_acme_orders_total{outcome="issued"} 0');
  assert.match(first.service.metricsText(), /tenantd_acme_orders_total\{outcome="issued"\} 3/);

  // A host the CA cannot validate (its name resolves where nothing answers):
  // the order fails with the CA's error and a next try; its handshake is
  // refused; the others serve.
  await pebble.resolve('broken.test', '127.0.0.9');
  writeFileSync(first.configFile, readConfig(first).replace('hosts: [globex.test]', 'hosts: [globex.test]\n  - schema: initech\n    hosts: [broken.test, initech.test]'));
  assert.equal((await first.service.reload()).ok, true);
  const broken = await eventually(async () => {
    const s = await status(first, 'broken.test');
    return s?.acme?.state === 'failed' ? s : undefined;
  }, 60_000, 'the failed order of broken.test');
  assert.match(broken.acme!.error!, /127\.0\.0\.9|connection|refused/i);
  assert.ok(Date.parse(broken.acme!.nextTry!) > Date.now());
  const refused = await servedCertificate(port, 'broken.test', pebble.root);
  assert.ok(!(refused instanceof X509Certificate));
  assert.equal((await curl(port, 'acme.test', pebble.rootFile)).code, 0);
  const list = await runCli(['certs', 'list', '-c', cliConfig(first)]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /broken\.test\s+initech\s+-\s+ACME: failed: .+; next try \d{4}-\d\d-\d\d \d\d:\d\d/);
  assert.match(list.stdout, /acme\.test\s+acme\s+\d{4}-\d\d-\d\d \(\d+ days\)\s+ACME, renewed from/);
  const summary = await runCli(['status', '-c', cliConfig(first)]);
  assert.match(summary.stdout, /^https: +\d of 4 hosts with a certificate; without: broken\.test \(ACME failed: .+\)/m);

  // Five orders in the hour (ordersPerHour: 5): initech.test waits for the limit.
  await eventually(async () => ((await status(first, 'initech.test'))?.acme?.state === 'valid' ? true : undefined), 60_000, 'initech.test issued (the fifth order)');
  assert.match(first.service.metricsText(), /tenantd_acme_orders_total\{outcome="failed"\} 1/);
  const renewAgain = await runCli(['certs', 'renew', 'globex.test', '-c', cliConfig(first)]);
  assert.equal(renewAgain.code, 1);
  assert.match(renewAgain.stdout, /globex\.test: ACME: waiting for tls.acme.ordersPerHour/);
});

test('ACME: a CA whose certificate is not trusted is one line naming tls.acme.caRoot; an unknown host cannot be renewed; a bad caRoot file rejects the reload', { skip, timeout: 60_000 }, async (t) => {
  const listen = await freePort();
  const pebble = await startPebble(t, { httpPort: listen });
  const yaml = config(pebble, acmeOnly).replace(`    caRoot: ${pebble.apiCaFile}\n`, '');
  const s = await startService(t, yaml, { listen: `127.0.0.1:${listen}` });
  const failed = await eventually(async () => {
    const c = await status(s, 'acme.test');
    return c?.acme?.state === 'failed' ? c : undefined;
  }, 30_000, 'the failed order');
  assert.match(failed.acme!.error!, /^cannot reach the ACME directory https:\/\/127\.0\.0\.1:\d+\/dir: \S+: .*\(a private CA: trust its root with tls\.acme\.caRoot\)$/);
  const unknown = await runCli(['certs', 'renew', 'nowhere.test', '-c', cliConfig(s)]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /TENANTD_ACME_HOST_UNKNOWN: nowhere\.test is not a host ACME keeps certified/);
  // A caRoot that is not PEM: the reload is rejected, naming it; the running config stays.
  writeFileSync(path.join(s.dir, 'ca.pem'), 'not a certificate');
  writeFileSync(s.configFile, readConfig(s).replace('    email: ops@example.com\n', '    email: ops@example.com\n    caRoot: ca.pem\n'));
  const reload = await s.service.reload();
  assert.equal(reload.ok, false);
  assert.match(!reload.ok ? reload.error : '', /tls\.acme\.caRoot: .*ca\.pem: not a PEM certificate/);
  // With the CA's root trusted, a renewal (the backoff lifted) issues at once.
  writeFileSync(s.configFile, readConfig(s).replace('    caRoot: ca.pem\n', `    caRoot: ${pebble.apiCaFile}\n`));
  assert.equal((await s.service.reload()).ok, true);
  const renewed = await runCli(['certs', 'renew', 'acme.test', '-c', cliConfig(s)]);
  assert.equal(renewed.code, 0, renewed.stdout + renewed.stderr);
  assert.ok((await servedCertificate(s.service.tlsAddress.port, 'acme.test', pebble.root)) instanceof X509Certificate);
});

test('ACME with external account binding: without the CA\'s key the order fails with its error; with tls.acme.eab it issues', { skip, timeout: 60_000 }, async (t) => {
  const listen = await freePort();
  const eab = { kid: 'kid-1', hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' };
  const pebble = await startPebble(t, { httpPort: listen, eab });
  const s = await startService(t, config(pebble, acmeOnly), { listen: `127.0.0.1:${listen}` });
  const failed = await eventually(async () => {
    const c = await status(s, 'acme.test');
    return c?.acme?.state === 'failed' ? c : undefined;
  }, 30_000, 'the order refused without EAB');
  assert.match(failed.acme!.error!, /externalAccountBinding/);
  writeFileSync(s.configFile, readConfig(s).replace('    email: ops@example.com\n', `    email: ops@example.com\n    eab: { kid: ${eab.kid}, hmacKey: ${eab.hmacKey} }\n`));
  assert.equal((await s.service.reload()).ok, true);
  const renewed = await runCli(['certs', 'renew', 'acme.test', '-c', cliConfig(s)]);
  assert.equal(renewed.code, 0, renewed.stdout + renewed.stderr);
  assert.ok((await servedCertificate(s.service.tlsAddress.port, 'acme.test', pebble.root)) instanceof X509Certificate);
});

test('HTTP-01 answers come from the router for any Host, before host lookup, first on a connection or later on a kept-alive one, from any node\'s order (the database); other tokens and paths reach the application', { skip, timeout: 60_000 }, async (t) => {
  const listen = await freePort();
  const pebble = await startPebble(t, { httpPort: listen });
  // A directory nothing answers: no order of its own interferes.
  const s = await startService(t, config(pebble, acmeOnly).replace(pebble.directory, 'https://127.0.0.1:9/dir'), { listen: `127.0.0.1:${listen}` });
  await eventually(async () => ((await status(s, 'acme.test'))?.acme?.state === 'failed' ? true : undefined), 30_000, 'the manager started');
  // Another node's order under way: its answer is in the database.
  const c = new pg.Client({ connectionString: s.db.url });
  c.on('error', () => {});
  await c.connect();
  await c.query("insert into public.tenantd_acme_challenges (token, key_authorization) values ('tok-en_1', 'tok-en_1.thumbprint')");
  await c.end();
  for (const host of ['acme.test', 'unknown.example']) {
    const first = await new RawConnection(s.port).ready();
    t.after(() => first.close());
    const reply = await first.get(host, '/.well-known/acme-challenge/tok-en_1');
    assert.equal(reply.status, 200, host);
    assert.equal(reply.body.toString(), 'tok-en_1.thumbprint');
  }
  // Later on a connection acme's worker serves: still the router's answer.
  const kept = await new RawConnection(s.port).ready();
  t.after(() => kept.close());
  const whoami = await kept.get('acme.test', '/whoami');
  assert.equal(whoami.status, 200);
  assert.equal(JSON.parse(whoami.body.toString()).schema, 'acme');
  const later = await kept.get('acme.test', '/.well-known/acme-challenge/tok-en_1');
  assert.equal(later.status, 200);
  assert.equal(later.body.toString(), 'tok-en_1.thumbprint');
  // A token tenantd did not publish: the application answers it (the probe: 404).
  const other = await new RawConnection(s.port).ready();
  t.after(() => other.close());
  const unknown = await other.get('acme.test', '/.well-known/acme-challenge/other');
  assert.equal(unknown.status, 404);
  assert.notEqual(unknown.body.toString(), 'tok-en_1.thumbprint');
});

test('ACME by TLS-ALPN-01 alone (tls.acme.challenges): the CA validates on the TLS listener, answered there before any tenant is chosen, and the certificate is served', { skip, timeout: 60_000 }, async (t) => {
  const [listen, tlsPort] = [await freePort(), await freePort()];
  // pebble's HTTP-01 checks go to a port nothing listens on: only TLS-ALPN-01 can pass.
  const pebble = await startPebble(t, { httpPort: await freePort(), tlsPort });
  const yaml = config(pebble, acmeOnly, '    challenges: [tls-alpn-01]\n').replace('  listen: 127.0.0.1:0\n', `  listen: 127.0.0.1:${tlsPort}\n`);
  const s = await startService(t, yaml, { listen: `127.0.0.1:${listen}` });
  const issued = await eventually(async () => {
    const c = await servedCertificate(tlsPort, 'acme.test', pebble.root);
    return c instanceof X509Certificate ? c : undefined;
  }, 60_000, `acme.test's certificate by TLS-ALPN-01 (${JSON.stringify(await status(s, 'acme.test'))})`);
  assert.ok(issued.checkHost('acme.test'));
  assert.equal((await status(s, 'acme.test'))?.acme?.state, 'valid');
  // A client offering acme-tls/1 for a name with no challenge under way: the handshake fails, nothing is served.
  const probe = await new Promise<string>((resolve) => {
    const socket = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'acme.test', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve('handshake');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  assert.notEqual(probe, 'handshake');
});

/** A config file that names the in-process service's bound admin address, for the commands. */
function cliConfig(s: RunningService): string {
  const file = path.join(s.dir, 'cli.yaml');
  writeFileSync(file, `admin: 127.0.0.1:${s.service.adminAddress.port}\n`);
  return file;
}

function readConfig(s: RunningService): string {
  return readFileSync(s.configFile, 'utf8');
}
