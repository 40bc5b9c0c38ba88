// loadConfig in a worker thread, for reloads: a large or hostile file costs
// the thread its time and memory, never the router's event loop.
import { Worker } from 'node:worker_threads';
import type { Config } from './config.ts';
import { deepFreeze } from './deep-freeze.ts';
import { errors, TenantdError } from '../errors.ts';

/** Heap for one config read: far more than any real config needs, far less than the machine. */
const threadHeapMb = 256;

type Reply = { ok: true; config: Config } | { ok: false; code?: string; message: string };

export function loadConfigOffThread(file: string, env: NodeJS.ProcessEnv): Promise<Config> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./config-thread.mjs', import.meta.url), {
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
      reject(reply.code && code === reply.code ? new TenantdError(reply.code, rest.join(': '), 422) : errors.configUnreadable(file, reply.message));
    });
    worker.once('error', (error: Error & { code?: string }) => {
      if (settled) return;
      settled = true;
      const reason = error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `reading it needs more than ${threadHeapMb} MB` : error.message;
      reject(errors.configUnreadable(file, reason));
    });
    worker.once('exit', (code) => {
      if (!settled) reject(errors.configUnreadable(file, `the config reader exited with code ${code}`));
    });
  });
}
