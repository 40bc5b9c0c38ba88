// Runs `tenantd serve` as its own process, as systemd would, on free ports.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { bin } from './cli.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { eventually } from './http.ts';
import { writeFiles } from './service.ts';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

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

/**
 * Starts `tenantd serve`; resolves once it routes, or (with `until`) once its
 * output matches. Another test may take a port between freePort() and the
 * child's listen: then it starts again on new ports.
 */
export interface ServeOptions {
  /** The database URL the config names, from the test database's (a proxy in front, say). */
  databaseUrl?: (url: string) => string;
}

export async function startServe(t: TestContext, yaml: string, env: NodeJS.ProcessEnv = {}, files: Record<string, string> = {}, until?: RegExp, options: ServeOptions = {}): Promise<ServeProcess> {
  const db = await createTestDatabase();
  const children: ChildProcess[] = [];
  // One hook, in order (node:test runs hooks as registered): processes, then the database.
  t.after(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await db.drop();
  });
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(t, db, children, yaml, env, files, until, options);
    } catch (error) {
      if (attempt >= 3 || !/TENANTD_LISTEN_FAILED/.test((error as Error).message)) throw error;
    }
  }
}

async function startOnce(t: TestContext, db: TestDatabase, children: ChildProcess[], yaml: string, env: NodeJS.ProcessEnv, files: Record<string, string>, until: RegExp | undefined, options: ServeOptions): Promise<ServeProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const head = `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:${adminPort}\ndatabase:\n  url: ${options.databaseUrl ? options.databaseUrl(db.url) : db.url}\n`;
  const dir = writeFiles(t, { ...files, 'tenantd.yaml': head + yaml });
  const configFile = path.join(dir, 'tenantd.yaml');
  const child = spawn(process.execPath, [bin, 'serve', '-c', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c) => { output += c; });
  child.stderr!.on('data', (c) => { output += c; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  children.push(child);
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`tenantd serve exited ${child.exitCode}: ${output}`);
    return (until ? until.test(output) : output.includes('"msg":"tenantd serving"')) ? true : undefined;
  }, 30_000, 'tenantd serve to route');
  return { child, db, dir, configFile, port, adminPort, output: () => output, exited, head };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
