// Which core each side of a benchmark runs on. By default the scheduler decides,
// as on the machines the figures came from. With BENCH_PIN=1 (and
// `taskset` on the PATH, and at least two cores) the load generator runs on the
// last core and every server process (tenantd's primary and workers, nginx and
// the worker) on the others: wrk -t1 is meant to leave the server a core, and
// pinning makes that so, rather than letting the scheduler move both sides
// about from one run to the next. Pinned, a server of two processes (nginx and
// its upstream, tenantd's primary and a worker) shares one core between them.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

const cores = os.availableParallelism();
const enabled = process.env.BENCH_PIN === '1' && cores >= 2 && spawnSync('taskset', ['-V']).error === undefined;

/** The cores given to each side, or null when nothing is pinned. */
export const pinning = enabled ? { server: cores === 2 ? '0' : `0-${cores - 2}`, load: String(cores - 1) } : null;

/** `command args` run on the side's cores. */
export function onCores(side: 'server' | 'load', command: string, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', pinning[side], command, ...args]] : [command, args];
}
