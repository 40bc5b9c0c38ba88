// The shipped unit under a real systemd: a throwaway container booted with
// systemd-nspawn (Debian's systemd-container) on the host's /usr, with this
// checkout mounted read-only at /opt/tenantd, driven through systemctl as an
// operator would. It shares the host's network, so the test talks to the
// router on loopback. Where the machine cannot boot such a container (not
// root, no systemd-nspawn), the test is skipped and says why.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { eventually, request } from './helpers/http.ts';
import { freePort } from './helpers/serve-process.ts';

const root = path.resolve(import.meta.dirname, '..');

function unavailableReason(): string | false {
  if (os.userInfo().uid !== 0) return 'booting a systemd container needs root';
  if (spawnSync('systemd-nspawn', ['--version']).status !== 0) return 'systemd-nspawn is not installed (apt-get install systemd-container)';
  if (!existsSync('/usr/bin/node')) return 'the unit runs /usr/bin/node, which this machine lacks';
  return false;
}

interface Run { code: number; stdout: string; stderr: string }

const reason = unavailableReason();
if (reason) console.log(`# systemd container test skipped: ${reason}`);

test('the unit under a real systemd: start, status, reload adding a tenant, a rejected reload, kill -9, stop', { skip: reason, timeout: 240_000 }, async (t) => {
  const container = spawn('systemd-nspawn', ['-D', '/', '--volatile=yes', '-b', '--register=no', '--keep-unit', '--console=pipe', `--bind-ro=${root}:/opt/tenantd`], { stdio: ['ignore', 'ignore', 'ignore'] });
  const gone = new Promise((resolve) => container.on('exit', resolve));
  let init = 0;
  const inside = (args: string[], input?: string): Promise<Run> => new Promise((resolve) => {
    const child = execFile('nsenter', ['-t', String(init), '-a', ...args], { encoding: 'utf8', timeout: 200_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    // A command that reads nothing closes its stdin: that is no error here.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
  const write = (file: string, text: string) => inside(['sh', '-c', `cat > ${file}`], text);
  t.after(async () => {
    if (init) await inside(['systemctl', 'poweroff']);
    const timer = setTimeout(() => container.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(timer);
  });

  init = await eventually(() => {
    const pid = Number(spawnSync('pgrep', ['-P', String(container.pid), '-x', 'systemd'], { encoding: 'utf8' }).stdout.trim());
    return pid > 0 ? pid : undefined;
  }, 30_000, "the container's systemd");
  await eventually(async () => (/^(running|degraded)/.test((await inside(['systemctl', 'is-system-running'])).stdout) ? true : undefined), 60_000, 'the container to boot');

  const [port, adminPort] = [await freePort(), await freePort()];
  assert.equal((await inside(['useradd', '--system', '--user-group', '--home-dir', '/var/lib/tenantd', '--shell', '/usr/sbin/nologin', 'tenantd'])).code, 0);
  await inside(['mkdir', '-p', '/etc/tenantd/tenants.d']);
  await write('/etc/tenantd/tenantd.yaml', [
    `listen: 127.0.0.1:${port}`, `admin: 127.0.0.1:${adminPort}`,
    'database:', '  dataDir: /var/lib/tenantd/data', '  secretFile: /var/lib/tenantd/credentials.secret',
    'log:', '  access: false',
    'tenants:', '  - schema: acme', '    hosts: [acme.test]', 'tenantsDir: tenants.d', '',
  ].join('\n'));
  assert.equal((await inside(['cp', '/opt/tenantd/systemd/tenantd.service', '/etc/systemd/system/tenantd.service'])).code, 0);
  await inside(['systemctl', 'daemon-reload']);

  const started = await inside(['systemctl', 'start', 'tenantd']);
  assert.equal(started.code, 0, `${started.stderr}\n${(await inside(['journalctl', '-u', 'tenantd', '--no-pager', '-n', '30'])).stdout}`);
  assert.equal((await inside(['systemctl', 'is-active', 'tenantd'])).stdout.trim(), 'active');
  assert.equal((await inside(['systemctl', 'status', 'tenantd', '--no-pager'])).code, 0);
  assert.equal((await request(port, { host: 'acme.test', path: '/api/tenant' })).status, 200);

  // A reload that adds a tenant: served as soon as systemctl returns.
  await write('/etc/tenantd/tenants.d/initech.yaml', 'schema: initech\nhosts: [initech.test]\n');
  const reloaded = await inside(['systemctl', 'reload', 'tenantd']);
  assert.equal(reloaded.code, 0, reloaded.stderr);
  assert.equal((await request(port, { host: 'initech.test', path: '/api/tenant' })).status, 200);

  // A rejected reload: non-zero, the old config serves, the unit stays active.
  await write('/etc/tenantd/tenants.d/broken.yaml', 'schema: Not A Schema\nhosts: []\n');
  const rejected = await inside(['systemctl', 'reload', 'tenantd']);
  // tenantd reload exits 1; systemctl reports the failed reload job with 1.
  assert.equal(rejected.code, 1);
  assert.equal((await inside(['systemctl', 'is-active', 'tenantd'])).stdout.trim(), 'active');
  assert.equal((await request(port, { host: 'initech.test', path: '/api/tenant' })).status, 200);
  await inside(['rm', '/etc/tenantd/tenants.d/broken.yaml']);

  // kill -9 of the primary: Restart= brings it back.
  const mainPid = (await inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'tenantd'])).stdout.trim();
  await inside(['kill', '-9', mainPid]);
  await eventually(async () => {
    const now = (await inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'tenantd'])).stdout.trim();
    const active = (await inside(['systemctl', 'is-active', 'tenantd'])).stdout.trim();
    return now !== mainPid && now !== '0' && active === 'active' ? true : undefined;
  }, 120_000, 'systemd to restart tenantd');
  assert.equal((await request(port, { host: 'acme.test', path: '/api/tenant' })).status, 200);

  // Stop: nothing of the service's user is left running.
  assert.equal((await inside(['systemctl', 'stop', 'tenantd'])).code, 0);
  assert.equal((await inside(['systemctl', 'is-active', 'tenantd'])).stdout.trim(), 'inactive');
  assert.equal((await inside(['pgrep', '-u', 'tenantd'])).stdout.trim(), '', 'no process of the tenantd user remains');
});
