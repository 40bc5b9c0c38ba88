// The admin connection target: the configured URL, or the embedded PostgreSQL
// (started here, or shared with the tenantd process that already runs it).
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { EmbeddedServer } from './embedded/embedded-server.ts';

export interface DatabaseHandle {
  /** Admin URL (CREATEROLE, owns the database). Never handed to a worker. */
  readonly adminUrl: string;
  readonly embedded: boolean;
  /** Stops the embedded server if this process started it. */
  close(): Promise<void>;
  /** For a forced exit: asks the embedded server (if ours) to stop, without waiting. */
  abandon(): void;
}

export interface OpenDatabaseOptions {
  /** Called with one line of progress. */
  onProgress?: (message: string) => void;
  /** With a logger, an embedded server this process owns is supervised: restarted when it dies. */
  log?: Logger;
  /** Called after each such restart (metrics). */
  onRestart?: () => void;
}

export async function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  if (config.database.url) {
    return { adminUrl: config.database.url, embedded: false, close: async () => {}, abandon: () => {} };
  }
  const server = await EmbeddedServer.start({ dataDir: config.database.dataDir, port: config.database.port, onProgress: options.onProgress });
  if (options.log) server.supervise(options.log, options.onRestart ?? (() => {}));
  return { adminUrl: server.url, embedded: true, close: () => server.stop(), abandon: () => server.abandon() };
}
