// The admin connection target of one database server: its URL, or the
// embedded PostgreSQL in its dataDir (started here, or shared with the tenantd
// process that already runs it).
import type { Logger } from 'pino';
import type { DatabaseServer } from '../config/config.ts';
import { EmbeddedServer } from './embedded/embedded-server.ts';

export interface DatabaseHandle {
  /** The server's name (`default`, or a key of `databases`). */
  readonly name: string;
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

export async function openDatabase(server: DatabaseServer, options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  const { name } = server;
  if (server.url) {
    return { name, adminUrl: server.url, embedded: false, close: async () => {}, abandon: () => {} };
  }
  const progress = options.onProgress && (name === 'default' ? options.onProgress : (m: string) => options.onProgress!(`${name}: ${m}`));
  const embedded = await EmbeddedServer.start({ dataDir: server.dataDir, port: server.port, onProgress: progress });
  if (options.log) embedded.supervise(options.log, options.onRestart ?? (() => {}));
  return { name, adminUrl: embedded.url, embedded: true, close: () => embedded.stop(), abandon: () => embedded.abandon() };
}
