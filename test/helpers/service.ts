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
  /** router.handoff; default the config's (true). */
  handoff?: boolean;
  /** log.access; default false (workers write access lines to the test's output). */
  accessLog?: boolean;
  /** The plain listener's address; default 127.0.0.1:0. */
  listen?: string;
}

/** `yaml` with log.access set, inside its log section if it has one. */
function withAccessLog(yaml: string, access: boolean): string {
  return /^log:\n/m.test(yaml) ? yaml.replace(/^log:\n/m, `log:\n  access: ${access}\n`) : `log:\n  access: ${access}\n${yaml}`;
}

/** `yaml` with router.handoff set, inside its router section if it has one. */
export function withHandoff(yaml: string, handoff: boolean | undefined): string {
  if (handoff === undefined) return yaml;
  return /^router:\n/m.test(yaml) ? yaml.replace(/^router:\n/m, `router:\n  handoff: ${handoff}\n`) : `router:\n  handoff: ${handoff}\n${yaml}`;
}

/** Both router paths: each test that takes a mode runs once per path. */
export const routerModes = [
  { handoff: true, label: '' },
  { handoff: false, label: ' [router.handoff: false]' },
] as const;

export async function startService(t: TestContext, yaml: string, options: StartOptions = {}): Promise<RunningService> {
  const { files: extraFiles = {}, db } = options;
  const database = db ?? await createTestDatabase();
  const dir = writeFiles(t, {
    ...extraFiles,
    'tenantd.yaml': `listen: ${options.listen ?? '127.0.0.1:0'}\nadmin: 127.0.0.1:0\ndatabase:\n  url: ${database.url}\n${options.database ?? ''}${withAccessLog(withHandoff(yaml, options.handoff), options.accessLog ?? false)}`,
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
