// `tenantd serve` as a user runs it (bin/tenantd.js: the bundled primary), in a
// child process, for the benchmarks: the service measured is the one shipped,
// not the TypeScript sources under a loader.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { onCores } from './cores.ts';
import type { ReloadResult, SiteStatus } from '../src/admin/admin-types.ts';

const bin = path.resolve(import.meta.dirname, '../bin/tenantd.js');

/** Runs one `tenantd` command to its end: its exit code, its wall time (ms) and what it printed. */
export function runTenantd(args: string[]): Promise<{ code: number | null; ms: number; out: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c) => { out += c; });
    child.stderr!.on('data', (c) => { out += c; });
    child.on('close', (code) => resolve({ code, ms: performance.now() - started, out }));
  });
}

export interface TenantdProcess {
  child: ChildProcess;
  status(): Promise<SiteStatus[]>;
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/** Starts `tenantd serve -c configFile` and resolves once its admin API says ready. */
export async function startTenantd(configFile: string, adminPort: number): Promise<TenantdProcess> {
  const child = spawn(...onCores('server', process.execPath, [bin, 'serve', '-c', configFile]), { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const admin = (method: string, route: string) => fetch(`http://127.0.0.1:${adminPort}${route}`, { method });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tenantd serve exited with code ${child.exitCode}`);
    const ready = await admin('GET', '/readyz').then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error('tenantd serve was not ready within 120 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    child,
    status: async () => ((await (await admin('GET', '/status')).json()) as { tenants: SiteStatus[] }).tenants,
    reload: async () => (await (await admin('POST', '/reload')).json()) as ReloadResult,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
