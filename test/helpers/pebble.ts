// A real ACME CA for tests: Debian's pebble, with pebble-challtestsrv as its
// DNS (every name resolves to 127.0.0.1 unless a test says otherwise), both
// offline. Pebble's API is served with a certificate of a test CA (not the
// root it issues from: that one is new at each start, fetched from
// /roots/0). HTTP-01 is checked on `httpPort`, where tenantd's plain listener
// is.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../src/base/free-port.ts';
import { makeCa } from './certificates.ts';
import { eventually } from './http.ts';
import { tempDir } from './service.ts';

export interface Pebble {
  /** The ACME directory URL. */
  directory: string;
  /** PEM file of the CA pebble's API certificate is from (tls.acme.caRoot). */
  apiCaFile: string;
  /** PEM of the root pebble issues from (what an HTTPS client trusts). */
  root: string;
  rootFile: string;
  /** Makes `host` resolve to `address` in pebble's DNS. */
  resolve(host: string, address: string): Promise<void>;
  /** What the processes printed (for a failing test's message). */
  output(): string;
}

/** Whether pebble and pebble-challtestsrv are installed (.ci/run installs them). */
export const havePebble = spawnSync('pebble', ['-h']).error === undefined && spawnSync('pebble-challtestsrv', ['-h']).error === undefined;

export interface PebbleOptions {
  /** Where pebble checks HTTP-01: tenantd's plain listener. */
  httpPort: number;
  /** Where pebble checks TLS-ALPN-01: tenantd's TLS listener (default: a port nothing listens on). */
  tlsPort?: number;
  /** Pebble requires external account binding with this key id and MAC key (base64url). */
  eab?: { kid: string; hmacKey: string };
}

export async function startPebble(t: TestContext, { httpPort, tlsPort: givenTlsPort, eab }: PebbleOptions): Promise<Pebble> {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const api = ca.issue('api', ['localhost', '127.0.0.1']);
  const [dnsPort, challPort, apiPort, managementPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const tlsPort = givenTlsPort ?? await freePort();
  const configFile = path.join(dir, 'pebble.json');
  writeFileSync(configFile, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${apiPort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: path.join(dir, api.cert),
      privateKey: path.join(dir, api.key),
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: eab !== undefined,
      ...(eab ? { externalAccountMACKeys: { [eab.kid]: eab.hmacKey } } : {}),
    },
  }));
  let output = '';
  const run = (command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c) => { output += c; });
    child.stderr!.on('data', (c) => { output += c; });
    t.after(() => { child.kill('SIGKILL'); });
    return child;
  };
  run('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '']);
  // No artificial sleeps in validation, no nonce rejected at random.
  run('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' });
  const agent = new https.Agent({ ca: ca.ca });
  const get = (port: number, route: string) => new Promise<{ status: number; body: string } | undefined>((resolve) => {
    https.get({ host: '127.0.0.1', port, path: route, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', () => resolve(undefined));
  });
  await eventually(async () => ((await get(apiPort, '/dir'))?.status === 200 ? true : undefined), 20_000, `pebble's directory (${output})`);
  const root = (await eventually(async () => {
    const reply = await get(managementPort, '/roots/0');
    return reply?.status === 200 ? reply.body : undefined;
  }, 10_000, 'pebble\'s root'))!;
  const rootFile = path.join(dir, 'pebble-root.pem');
  writeFileSync(rootFile, root);
  return {
    directory: `https://127.0.0.1:${apiPort}/dir`,
    apiCaFile: ca.caFile,
    root,
    rootFile,
    resolve: async (host, address) => {
      const status = await new Promise<number>((resolve, reject) => {
        const text = JSON.stringify({ host, addresses: [address] });
        const req = http.request({ host: '127.0.0.1', port: challPort, path: '/add-a', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
          (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
        req.on('error', reject);
        req.end(text);
      });
      if (status !== 200) throw new Error(`pebble-challtestsrv refused /add-a for ${host}: ${status}`);
    },
    output: () => output,
  };
}
