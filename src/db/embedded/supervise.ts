// Keeps an embedded server running: whenever it is found not running, it is
// started again with the workers' backoff (at once, then 0.5 s doubling to
// 30 s), each exit logged. A server restarted from outside meanwhile is
// adopted, not doubled.
import type { Logger } from 'pino';
import { backoffDelay, healthyAfter } from '../../base/backoff.ts';
import { runningPostmaster } from './postmaster.ts';

/** ms between checks that the supervised server still runs. */
const superviseInterval = 500;

export interface Supervised {
  pgdata: string;
  /** True once the server is being stopped on purpose. */
  stopping(): boolean;
  /** Starts the server again; resolves when it answers. */
  restart(): Promise<void>;
  log: Logger;
  /** Called after each restart (metrics). */
  onRestart(): void;
}

/** Checks every superviseInterval ms; clear the returned timer to stop. */
export function superviseServer(server: Supervised): NodeJS.Timeout {
  let consecutive = 0;
  let upSince = Date.now();
  let restarting = false;
  const { log } = server;
  const check = async () => {
    if (server.stopping() || restarting) return;
    if (runningPostmaster(server.pgdata)) {
      if (Date.now() - upSince >= healthyAfter) consecutive = 0;
      return;
    }
    restarting = true;
    consecutive += 1;
    const delay = backoffDelay(consecutive);
    log.error({ restarts: consecutive, delayMs: delay }, 'the embedded PostgreSQL is not running; restarting it');
    await new Promise((r) => setTimeout(r, delay));
    try {
      // Its backends may still be leaving; postgres refuses to start until they have.
      if (!server.stopping() && !runningPostmaster(server.pgdata)) {
        await server.restart();
        server.onRestart();
        upSince = Date.now();
        log.info('embedded PostgreSQL restarted');
      }
    } catch (error) {
      log.error({ err: error }, 'the embedded PostgreSQL did not restart; trying again');
    } finally {
      restarting = false;
    }
  };
  const timer = setInterval(() => void check(), superviseInterval);
  timer.unref();
  return timer;
}
