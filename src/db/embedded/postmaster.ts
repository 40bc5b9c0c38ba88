// Which PostgreSQL runs a data folder: read from its postmaster.pid, and proven
// by /proc before tenantd signals it (a stale file may name a pid that another
// process has taken since).
import { readFileSync } from 'node:fs';

export interface Postmaster {
  pid: number;
  port: number;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The postmaster that postmaster.pid in `pgdata` names, if that process is alive. */
export function runningPostmaster(pgdata: string): Postmaster | undefined {
  let lines: string[];
  try {
    lines = readFileSync(`${pgdata}/postmaster.pid`, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return pid > 0 && isAlive(pid) ? { pid, port } : undefined;
}

/**
 * The running postmaster of `pgdata`, only if provably so: postmaster.pid names
 * it and its command line names `pgdata` (where /proc exists to ask).
 */
export function provenPostmaster(pgdata: string): Postmaster | undefined {
  const running = runningPostmaster(pgdata);
  if (!running) return undefined;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${running.pid}/cmdline`, 'utf8');
  } catch (error) {
    // No /proc (macOS): the pid file is the only word there is.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' && !hasProc() ? running : undefined;
  }
  return cmdline.split('\0').includes(pgdata) ? running : undefined;
}

function hasProc(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

export function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}
