// Runs `tenantd serve` as its own process, as systemd would, on free ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../src/base/free-port.ts';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { bin } from './cli.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { eventually } from './http.ts';
import { writeFiles } from './service.ts';

export { freePort };

export interface ServeProcess {
  child: ChildProcess;
  db: TestDatabase;
  dir: string;
  configFile: string;
  port: number;
  adminPort: number;
  /** Everything the process printed. */
  output(): string;
  exited: Promise<number | null>;
  /** The YAML head (listen, admin, database) to prepend when rewriting the config. */
  head: string;
}

export interface ServeOptions {
  /** The config without listen, admin and database.url, which are set here; its first lines may continue `database:`. */
  yaml: string;
  /** More environment for the process. */
  env?: NodeJS.ProcessEnv;
  /** More files beside tenantd.yaml (relative path → text). */
  files?: Record<string, string>;
  /** Ready once the output matches this; default: once it routes. */
  until?: RegExp;
  /** The database URL the config names, from the test database's (a proxy in front, say). */
  databaseUrl?: (url: string) => string;
  /** Another process's database (a second node): its owner drops it. */
  db?: TestDatabase;
}

/**
 * Starts `tenantd serve`; resolves once it routes, or (with `until`) once its
 * output matches. Another test may take a port between freePort() and the
 * child's listen: then it starts again on new ports.
 */
export async function startServe(t: TestContext, options: ServeOptions): Promise<ServeProcess> {
  const db = options.db ?? await createTestDatabase();
  const children: ChildProcess[] = [];
  // One hook, in order (node:test runs hooks as registered): processes, then the database.
  t.after(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    if (!options.db) await db.drop();
  });
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(t, db, children, options);
    } catch (error) {
      if (attempt >= 3 || !/TENANTD_LISTEN_FAILED/.test((error as Error).message)) throw error;
    }
  }
}

async function startOnce(t: TestContext, db: TestDatabase, children: ChildProcess[], options: ServeOptions): Promise<ServeProcess> {
  const { yaml, env = {}, files = {}, until } = options;
  const [port, adminPort] = [await freePort(), await freePort()];
  const head = `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:${adminPort}\ndatabase:\n  url: ${options.databaseUrl ? options.databaseUrl(db.url) : db.url}\n`;
  const dir = writeFiles(t, { ...files, 'tenantd.yaml': head + yaml });
  const configFile = path.join(dir, 'tenantd.yaml');
  const serving = spawnServe(configFile, env);
  children.push(serving.child);
  await serving.ready(until);
  return { ...serving, db, dir, configFile, port, adminPort, head };
}

export interface SpawnedServe {
  child: ChildProcess;
  /** Everything the process printed. */
  output(): string;
  exited: Promise<number | null>;
  /** Resolves once the output matches `until` (default: once it routes); throws if it exits first. */
  ready(until?: RegExp, timeout?: number): Promise<void>;
}

/** `tenantd serve -c configFile` as its own process, its output kept. */
export function spawnServe(configFile: string, env: NodeJS.ProcessEnv = {}): SpawnedServe {
  const child = spawn(process.execPath, [bin, 'serve', '-c', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c) => { output += c; });
  child.stderr!.on('data', (c) => { output += c; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    ready: (until, timeout = 30_000) => eventually(async () => {
      if (child.exitCode !== null) throw new Error(`tenantd serve exited ${child.exitCode}: ${output}`);
      return (until ? until.test(output) : output.includes('"msg":"tenantd serving"')) ? true : undefined;
    }, timeout, 'tenantd serve to route').then(() => {}),
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
