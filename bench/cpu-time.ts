// CPU time a set of processes used, from /proc/<pid>/stat (user + system, every
// thread of each process). Throughput on a shared 2-core machine wanders from
// run to run; the CPU a request costs the server's processes wanders far less,
// and says what a request costs on a busy machine. Linux only: undefined
// elsewhere.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

/** Microseconds of CPU the processes `pids` have used, all together; undefined when /proc cannot tell. */
export function cpuMicros(pids: readonly number[]): number | undefined {
  let ticks = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    // Fields after the command name (which may hold spaces), from the state on: utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks / ticksPerSecond) * 1e6;
}

/** The process `pid` and its children (a primary and its workers, nginx's master and its workers). */
export function withChildren(pid: number): number[] {
  const pids = [pid];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The parent's pid is the 2nd field after the command name.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(entry));
    } catch {
      // Gone since the listing.
    }
  }
  return pids;
}
