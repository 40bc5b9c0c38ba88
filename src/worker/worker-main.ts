// A worker process: serves one tenant. Waits for its start message, opens a pool
// pinned to the tenant schema as the tenant role, waits until the database
// answers as that role with the app's migrations applied, loads the application
// module, listens on a loopback port it owns, and tells the primary the port.
// Afterwards it tells the primary when the database goes away and comes back;
// a database outage never ends the process.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { migrationNames, missingMigrations } from '../db/applied-migrations.ts';
import { createTenantDatabase } from '../db/tenant-database.ts';
import { DatabaseUnavailableError } from '../base/errors.ts';
import { closeGracefully } from '../http/close-gracefully.ts';
import { createLogger, redactUrls } from '../log/logger.ts';
import type { AppFactory } from '../app/app-context.ts';
import { HandedOff } from './handed-off.ts';
import type { PrimaryMessage, WorkerMessage } from './worker-messages.ts';

/** Replaced once the server runs: how this worker drains and exits. */
let stopWorker = (_timeout: number): void => process.exit(0);

/** ms between readiness checks while the database is not ready for this tenant. */
const recheckInterval = 1000;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** 503 with Retry-After: what a request gets when the database cannot be reached. */
function unavailable(res: http.ServerResponse, error: DatabaseUnavailableError): void {
  const body = `${JSON.stringify({ error: 'the database is unavailable; try again shortly' })}\n`;
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'retry-after': String(error.retryAfter) });
  res.end(body);
}

/** An error the application let through: a database outage is a 503; anything else ends the worker (it is restarted). */
function failed(res: http.ServerResponse, error: unknown): void {
  if (!(error instanceof DatabaseUnavailableError)) throw error;
  if (!res.headersSent) unavailable(res, error);
  else res.destroy();
}

async function start(message: Extract<PrimaryMessage, { type: 'start' }>): Promise<void> {
  const { tenant, credentials } = message;
  const log = createLogger(message.logLevel, { tenant: tenant.schema, role: 'worker' });
  const { db, pool } = createTenantDatabase({ credentials });
  const server = http.createServer();
  let handedOff: HandedOff | undefined;
  let tls = message.tls;

  const stop = async (timeout: number) => {
    await Promise.all([closeGracefully(server, timeout), handedOff?.drain(timeout)]);
    await pool.end().catch(() => {});
    process.exit(0);
  };
  stopWorker = (timeout) => void stop(timeout);
  process.on('message', (m: PrimaryMessage, handle?: Socket) => {
    if (m.type === 'stop') stopWorker(m.timeout);
    else if (m.type === 'connection' && handle) {
      if (handedOff) handedOff.accept(m.id, handle, Buffer.from(m.head, 'base64'), m.tls === true, m.client);
      else handle.destroy();
    } else if (m.type === 'close-connection') handedOff?.close(m.id);
    else if (m.type === 'limits') handedOff?.setLimits(m.limits);
    else if (m.type === 'tls') {
      tls = m.tls;
      handedOff?.setTls(m.tls);
    }
    else if (m.type === 'drain') void handedOff?.drain(m.timeout);
    else if (m.type === 'hand-back') void (handedOff?.handBack() ?? Promise.resolve()).then(() => send({ type: 'handed-back' }));
  });
  // An application that lets a database outage escape as an unhandled rejection
  // must not lose every other request of its tenant with the process.
  process.on('unhandledRejection', (error) => {
    if (error instanceof DatabaseUnavailableError) return log.debug({ err: error }, 'unhandled: database unavailable');
    throw error;
  });

  // Ready only once the database answers as the tenant role, with the schema the
  // app expects: until then the primary routes nothing here and nothing retries us.
  const expected = message.migrations === undefined ? [] : migrationNames(message.migrations);
  let reported = '';
  for (;;) {
    const health = await pool.check();
    let reason = health.ok ? undefined : health.reason;
    if (health.ok) {
      const missing = await missingMigrations(db, expected).catch((error: Error) => [`(${error.message})`]);
      if (missing.length > 0) reason = `migrations not applied: ${missing.join(', ')}; run tenantd migrate`;
    }
    if (reason === undefined) break;
    if (reason !== reported) {
      log.warn({ reason }, 'not ready: waiting for the database');
      send({ type: 'unavailable', port: null, reason: redactUrls(reason) });
      reported = reason;
    }
    await new Promise((resolve) => setTimeout(resolve, recheckInterval));
  }

  try {
    const module = await import(pathToFileURL(message.app).href) as { default?: unknown };
    if (typeof module.default !== 'function') throw new Error(`${message.app} has no default export function`);
    const listener = await (module.default as AppFactory)({ tenant, db, log, server });
    if (typeof listener !== 'function') throw new Error(`the default export of ${message.app} did not return a request listener`);
    const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
      try {
        const result = listener(req, res) as unknown;
        // A closure only for the rare promise that rejects, not per request.
        if (result instanceof Promise) result.catch((error: unknown) => failed(res, error));
      } catch (error) {
        failed(res, error);
      }
    };
    server.on('request', serve);
    handedOff = new HandedOff({
      schema: tenant.schema,
      hosts: tenant.hosts,
      allowTrace: tenant.allowTrace,
      listener: serve,
      appServer: server,
      limits: message.limits,
      tls,
      log,
      report: (report) => send({ type: 'report', ...report }),
    });
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
    // The database may have gone while the app loaded: say what is true now,
    // then every change as it happens.
    const health = await pool.check();
    send(health.ok ? { type: 'ready', port } : { type: 'unavailable', port, reason: redactUrls(health.reason) });
    pool.watch((change) => {
      if (change.ok) log.info('database reachable again');
      else log.warn({ reason: change.reason }, 'database unreachable; answering 503 until it is back');
      send(change.ok ? { type: 'ready', port } : { type: 'unavailable', port, reason: redactUrls(change.reason) });
    });
  } catch (error) {
    const text = redactUrls(error instanceof Error ? error.message : String(error));
    log.error({ err: error }, 'worker failed to start');
    send({ type: 'failed', error: text });
    await pool.end().catch(() => {});
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
