// A worker process: serves one tenant. Waits for its start message, opens a pool
// pinned to the tenant schema as the tenant role, loads the application module,
// listens on a loopback port it owns, and tells the primary the port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createTenantDatabase } from '../db/tenant-database.ts';
import { closeGracefully } from '../http/close-gracefully.ts';
import { createLogger, redactUrls } from '../log/logger.ts';
import type { AppFactory } from './app-context.ts';
import type { PrimaryMessage, WorkerMessage } from './worker-messages.ts';

/** Replaced once the server runs: how this worker drains and exits. */
let stopWorker = (_timeout: number): void => process.exit(0);

function send(message: WorkerMessage): void {
  process.send?.(message);
}

async function start(message: Extract<PrimaryMessage, { type: 'start' }>): Promise<void> {
  const { tenant, credentials } = message;
  const log = createLogger(message.logLevel, { tenant: tenant.schema, role: 'worker' });
  const db = createTenantDatabase(credentials);
  const server = http.createServer();

  const stop = async (timeout: number) => {
    await closeGracefully(server, timeout);
    await db.destroy().catch(() => {});
    process.exit(0);
  };
  stopWorker = (timeout) => void stop(timeout);
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'stop') stopWorker(m.timeout);
  });

  try {
    const module = await import(pathToFileURL(message.app).href) as { default?: unknown };
    if (typeof module.default !== 'function') throw new Error(`${message.app} has no default export function`);
    const listener = await (module.default as AppFactory)({ tenant, db, log, server });
    if (typeof listener !== 'function') throw new Error(`the default export of ${message.app} did not return a request listener`);
    server.on('request', listener);
    // The router keeps connections to us alive; closing them first would race
    // with a request it is sending (a 502 for no reason), so we hold them longer.
    server.keepAliveTimeout = 10 * 60_000;
    server.headersTimeout = 60_000;
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: this worker owns the socket; connections do not pass through the primary.
      server.listen({ port: message.port, host: '127.0.0.1', exclusive: true }, resolve);
    });
    const { port } = server.address() as AddressInfo;
    log.debug({ port }, 'worker ready');
    send({ type: 'ready', port });
  } catch (error) {
    const text = redactUrls(error instanceof Error ? error.message : String(error));
    log.error({ err: error }, 'worker failed to start');
    send({ type: 'failed', error: text });
    await db.destroy().catch(() => {});
    process.exit(1);
  }
}

// The primary stops us over IPC. A Ctrl-C in a terminal reaches the whole process
// group: let the primary drain the router first, then tell us.
process.on('SIGINT', () => {});
// A SIGTERM sent to this worker alone: drain and exit (the primary restarts it).
process.on('SIGTERM', () => stopWorker(10_000));
process.once('message', (m: PrimaryMessage) => {
  if (m.type === 'start') void start(m);
});
send({ type: 'booted' });
// Orphaned by a primary that died: nobody routes to us any more.
process.on('disconnect', () => process.exit(0));
