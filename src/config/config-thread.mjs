// Worker-thread entry of loadConfigOffThread: reads, parses and validates one
// config file away from the router's event loop and posts back the result or
// the error's code and message. Plain JavaScript, because a worker thread does
// not inherit the primary's TypeScript loader: it registers its own.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { loadConfig } = await import('./load-config.ts');
try {
  parentPort.postMessage({ ok: true, config: loadConfig(workerData.file, workerData.env) });
} catch (error) {
  parentPort.postMessage({ ok: false, code: error?.code, message: error?.message ?? String(error) });
}
