// Worker-thread entry of loadConfigOffThread: reads, parses and validates one
// config file away from the router's event loop and posts back the result or
// the error's code and message. Runs compiled (src/build/bundle.ts), as workers do.
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../config/load-config.ts';

const { file, env } = workerData as { file: string; env: NodeJS.ProcessEnv };
try {
  parentPort!.postMessage({ ok: true, config: loadConfig(file, env) });
} catch (error) {
  parentPort!.postMessage({ ok: false, code: (error as { code?: string })?.code, message: (error as Error)?.message ?? String(error) });
}
