// loadConfig in a worker thread, for reloads: a large or hostile file costs
// the thread its time and memory, never the router's event loop.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { bundle } from '../build/bundle.ts';
import { projectRoot } from '../base/project-root.ts';
import type { Config } from '../config/config.ts';
import { deepFreeze } from '../config/deep-freeze.ts';
import { errorClassOf, errors } from '../base/errors.ts';

/** Heap for one config read: far more than any real config needs, far less than the machine. */
const threadHeapMb = 256;

type Reply = { ok: true; config: Config } | { ok: false; code?: string; message: string };

const threadMain = path.join(projectRoot, 'src', 'service', 'config-thread.ts');

export async function loadConfigOffThread(file: string, env: NodeJS.ProcessEnv): Promise<Config> {
  // Compiled like the workers: a thread does not inherit a loader.
  const thread = await bundle(threadMain, 'config-thread');
  return new Promise((resolve, reject) => {
    const worker = new Worker(thread, {
      workerData: { file, env: { TENANTD_DATABASE_URL: env.TENANTD_DATABASE_URL, TENANTD_ADMIN_TOKEN: env.TENANTD_ADMIN_TOKEN } },
      resourceLimits: { maxOldGenerationSizeMb: threadHeapMb },
      stdout: false,
      stderr: false,
    });
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      void worker.terminate();
      if (reply.ok) return resolve(deepFreeze(reply.config));
      // The thread's error, with its code, as loadConfig would have thrown it.
      const [code, ...rest] = reply.message.split(': ');
      const known = reply.code && code === reply.code ? errorClassOf(reply.code) : undefined;
      reject(known ? known.revive(rest.join(': ')) : new errors.ConfigUnreadable(file, reply.message));
    });
    worker.once('error', (error: Error & { code?: string }) => {
      if (settled) return;
      settled = true;
      const reason = error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `reading it needs more than ${threadHeapMb} MB` : error.message;
      reject(new errors.ConfigUnreadable(file, reason));
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new errors.ConfigUnreadable(file, `the config reader exited with code ${code}`));
    });
  });
}
