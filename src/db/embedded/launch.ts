// Starting the postmaster: detached (a Ctrl-C in the terminal must not stop the
// database under workers that are still draining; tenantd stops it itself,
// last), logging to postgres.log, on loopback TCP only; then waiting until it
// answers.
import { spawn } from 'node:child_process';
import { chownSync, closeSync, openSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { errors } from '../../base/errors.ts';
import type { Binaries, RunAs } from './os-user.ts';

/** How the server is started (and started again after it died). */
export interface Launch {
  bins: Binaries;
  pgdata: string;
  logFile: string;
  runAs: RunAs | undefined;
}

/** Room for many tenants, each with a pool of its own (the connection budget takes 80% of it). */
const maxConnections = 1000;
/** ms a starting server may take to answer. */
const readyTimeout = 60_000;

/** Starts the postmaster on `port` and resolves once `superUrl` answers. */
export async function launchPostmaster(launch: Launch, port: number, superUrl: string): Promise<void> {
  const { bins, pgdata, logFile, runAs } = launch;
  const logFd = openSync(logFile, 'a', 0o600);
  if (runAs) chownSync(logFile, runAs.uid, runAs.gid);
  const child = spawn(bins.postgres, [
    '-D', pgdata, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
    '-c', `max_connections=${maxConnections}`,
    // Logical replication, for moving a tenant to another server online (tenants move).
    '-c', 'wal_level=logical',
  ], { detached: true, stdio: ['ignore', logFd, logFd], ...runAs });
  closeSync(logFd);
  child.unref();
  let exited = false;
  child.once('exit', () => { exited = true; });
  child.once('error', () => { exited = true; });
  const deadline = Date.now() + readyTimeout;
  for (;;) {
    try {
      await selectOne(superUrl);
      return;
    } catch {
      if (exited || Date.now() > deadline) {
        const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
        throw new errors.EmbeddedFailed(exited ? `postgres exited: ${log}` : `not ready after ${readyTimeout / 1000}s: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function selectOne(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
}
