// The operating-system users around the embedded PostgreSQL: PostgreSQL refuses
// to run as root, so root runs it as `postgres`; and a data folder belongs to
// one user, whom tenantd never takes it from.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errors } from '../../base/errors.ts';

export interface RunAs { uid: number; gid: number }
export interface Binaries { postgres: string; initdb: string }

function idOf(name: string): RunAs {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  return { uid, gid };
}

/** The postgres user (created when missing) that root runs PostgreSQL as. */
export function postgresUser(): RunAs {
  try {
    return idOf('postgres');
  } catch {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return idOf('postgres');
    } catch {
      throw new errors.EmbeddedFailed('running as root needs a postgres user to run PostgreSQL as, and useradd failed; create one or run tenantd as a normal user');
    }
  }
}

/** A user's name from /etc/passwd, or `#uid`. */
export function userName(uid: number): string {
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid));
    if (line) return line.split(':')[0]!;
  } catch {
    // No passwd file: fall through.
  }
  return `#${uid}`;
}

/**
 * Refuses, before anything is touched, to work on a data folder that belongs to
 * another user: a command run with sudo must not hand the service's cluster to
 * `postgres`, nor a wrong user fail half-way. Root's own layout (folder owned by
 * root, cluster by postgres) passes.
 */
export function checkDataOwner(dataDir: string, pgdata: string): void {
  const me = os.userInfo().uid;
  if (existsSync(pgdata)) {
    const owner = statSync(pgdata).uid;
    const expected = me === 0 ? postgresUser().uid : me;
    if (owner !== expected) throw new errors.WrongUser(dataDir, userName(owner));
  }
  if (existsSync(dataDir)) {
    const owner = statSync(dataDir).uid;
    if (me !== 0 && owner !== me) throw new errors.WrongUser(dataDir, userName(owner));
    if (me === 0 && owner !== 0 && owner !== postgresUser().uid) throw new errors.WrongUser(dataDir, userName(owner));
  }
}

/**
 * When root, the postgres user must be able to execute the binaries; a checkout in
 * a private home folder is out of its reach, so the binaries are copied once to a
 * shared temporary folder.
 */
export function reachableBinaries(bins: Binaries, runAs: RunAs | undefined): Binaries {
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
