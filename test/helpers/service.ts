// Starts a real tenantd service (primary, cluster workers, router) on a fresh
// test database, from a config written to a temporary folder.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { Logger } from 'pino';
import type { ForkWorker } from '../../src/supervisor/worker-group.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { Service } from '../../src/service/service.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { request, type Reply, type RequestOptions } from './http.ts';

export const probeApp = path.resolve(import.meta.dirname, '../fixtures/probe-app.ts');

/** The probe app with two tenants, acme at acme.test and globex at globex.test. */
export const twoProbeTenants = `app: ${probeApp}\ntenants:\n  - schema: acme\n    hosts: [acme.test]\n  - schema: globex\n    hosts: [globex.test]\n`;

export interface RunningService {
  service: Service;
  db: TestDatabase;
  dir: string;
  configFile: string;
  port: number;
  get(host: string | undefined, path?: string, options?: RequestOptions): Promise<Reply>;
  send(host: string, method: string, path: string, body?: unknown, options?: RequestOptions): Promise<Reply>;
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantd-t-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (relative path → text) into a new temporary folder. */
export function writeFiles(t: TestContext, files: Record<string, string>): string {
  const dir = tempDir(t);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/**
 * `yaml` is the config without `database.url`, `listen` and `admin`, which the
 * helper sets (fresh database, port 0).
 */
export interface StartOptions {
  /** More files beside tenantd.yaml (relative path → text). */
  files?: Record<string, string>;
  /** Reuse a database (its owner drops it). */
  db?: TestDatabase;
  log?: Logger;
  fork?: ForkWorker;
  /** More keys under `database:`, indented by two spaces. */
  database?: string;
}

export async function startService(t: TestContext, yaml: string, options: StartOptions = {}): Promise<RunningService> {
  const { files: extraFiles = {}, db } = options;
  const database = db ?? await createTestDatabase();
  const dir = writeFiles(t, {
    ...extraFiles,
    'tenantd.yaml': `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${database.url}\n${options.database ?? ''}${yaml}`,
  });
  const configFile = path.join(dir, 'tenantd.yaml');
  const config = loadConfig(configFile, {});
  const service = new Service(config, { log: options.log ?? createLogger(process.env.TENANTD_TEST_LOG ?? 'silent'), ...(options.fork ? { fork: options.fork } : {}) });
  // One hook, in order: workers hold connections to the database we drop.
  t.after(async () => {
    await service.stop();
    if (!db) await database.drop();
  });
  await service.start();
  const port = service.address.port;
  return {
    service, db: database, dir, configFile, port,
    get: (host, p = '/', options = {}) => request(port, { ...options, host, path: p }),
    send: (host, method, p, body, options = {}) => request(port, {
      ...options, host, method, path: p,
      body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...options.headers },
    }),
  };
}
