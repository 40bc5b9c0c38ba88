// The real ForkWorker: node:cluster children running worker-main.ts under tsx, so
// that application modules may be TypeScript.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { ForkWorker, WorkerHandle } from './worker-group.ts';

const workerMain = fileURLToPath(new URL('../worker/worker-main.ts', import.meta.url));
let configured = false;

export const clusterFork: ForkWorker = () => {
  if (!configured) {
    cluster.setupPrimary({
      exec: workerMain,
      // An absolute loader URL, so that workers start whatever the current directory.
      execArgv: ['--import', import.meta.resolve('tsx')],
      args: [],
    });
    configured = true;
  }
  return cluster.fork() as unknown as WorkerHandle;
};
