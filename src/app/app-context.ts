// The contract between tenantd and a tenant application module: its default
// export receives this context and returns Node's request listener.
import type { RequestListener, Server } from 'node:http';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Site } from '../config/config.ts';

/** The site (a tenant, or the public site) as its application sees it: the config's entry without the worker counts. */
export type AppSite = Omit<Site, 'min' | 'max'>;

export interface AppContext<DB = any> {
  readonly tenant: AppSite;
  /** Connections pinned to the tenant schema, logged in as the tenant role. */
  readonly db: Kysely<DB>;
  /** Bound to the tenant. */
  readonly log: Logger;
  /** The worker's HTTP server, not yet listening: for `upgrade` (WebSocket) handlers. */
  readonly server: Server;
}

export type AppFactory = (ctx: AppContext) => RequestListener | Promise<RequestListener>;
