// How many workers may be alive at once: workers.maxLive, and no more than the
// database connection budget holds at poolSize connections each, so that the
// workers' pools together stay within what the server allows.
import type { Config } from '../config/config.ts';
import type { ServerConnections } from '../db/connection-budget.ts';

/** Connections all workers may hold: database.maxConnections, else the server's share. */
export function connectionBudget(database: Config['database'], server: ServerConnections): number {
  return database.maxConnections ?? server.share;
}

/** Live workers at most (LiveWorkers.limit). */
export function liveLimit(config: Config, server: ServerConnections): number {
  return Math.max(1, Math.min(config.workers.maxLive, Math.floor(connectionBudget(config.database, server) / config.database.poolSize)));
}
