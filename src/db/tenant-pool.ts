// The pool behind a tenant's Kysely: pg.Pool connections logged in as the
// tenant role with search_path pinned at connect, made safe against the
// database going away. A connection the server closes never crashes the
// worker (pg.Pool emits 'error' for it, fatal without a listener); a query that
// cannot reach the database fails with DatabaseUnavailableError, which the
// worker answers with 503; and, once watched, while the database is away the
// pool probes it once a second and reports when it is back.
import pg from 'pg';
import { parse } from 'pg-connection-string';
import { DatabaseUnavailableError } from '../base/errors.ts';
import { sqlStateOf } from './sql-state.ts';
import { pinnedOptions, type TenantCredentials } from './tenant-credentials.ts';

/** SQLSTATEs that mean "the database is not there for us now", not "your query is wrong". */
const unavailableStates = new Set([
  '57P01', // admin_shutdown: the server is shutting down or killed our backend
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '53300', // too_many_connections (the role's CONNECTION LIMIT included)
  '28P01', // invalid_password: credentials out of step (docs/operations.md, "Rotating the credentials secret")
  '28000', // invalid_authorization_specification
  '3D000', // the database does not exist (yet)
]);
const unavailableErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for errors that say the database cannot be reached, whatever the query. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || unavailableStates.has(code) || unavailableErrnos.has(code))) return true;
  // pg's own words for a socket that closed under it.
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection ended/i.test(message);
}

/** The tenant's own connection limit: this request waits its turn, the database is fine. */
const ownLimit = '53300';

function reasonOf(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return `${e?.message ?? String(error)}${e?.code ? ` (${e.code})` : ''}`;
}

export type DatabaseHealth = { ok: true } | { ok: false; reason: string };

export interface TenantPoolOptions {
  credentials: TenantCredentials;
  /** ms between probes while the database is away and the pool is watched. Default 1000. */
  probeInterval?: number;
}

/** What Kysely's PostgresDialect needs of a pool client. */
interface PoolClient {
  query(...args: unknown[]): unknown;
  release(destroy?: boolean): void;
}

export class TenantPool {
  readonly #pool: pg.Pool;
  readonly #passwords: readonly string[];
  /** Set by watch(): until then the owner checks by itself and nothing probes. */
  #onHealth: ((health: DatabaseHealth) => void) | undefined;
  readonly #probeInterval: number;
  /** Index of the password that worked last: tried first. */
  #current = 0;
  #healthy = true;
  #probe: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(options: TenantPoolOptions) {
    const { credentials } = options;
    this.#passwords = credentials.passwords;
    this.#probeInterval = options.probeInterval ?? 1000;
    // The URL carries no password: pg would let its empty one override ours.
    const { password: _none, ...target } = parse(credentials.url);
    this.#pool = new pg.Pool({
      ...(target as pg.PoolConfig),
      password: () => this.#passwords[this.#current] ?? '',
      // A SET in a connect hook would be undone by DISCARD ALL or RESET; a startup
      // option holds for the connection's life.
      options: pinnedOptions(credentials.schema, credentials.statementTimeout > 0 ? { statement_timeout: String(credentials.statementTimeout) } : {}),
      max: credentials.poolSize,
      // Idle connections go back to the server: many tenants share its max_connections.
      idleTimeoutMillis: credentials.idleTimeout,
      connectionTimeoutMillis: 5000,
    });
    // An idle connection closed by the server (restart, pg_terminate_backend):
    // the pool has already dropped it; find out whether the server is gone.
    this.#pool.on('error', () => void this.check());
    // A connection closed while checked out between two queries emits 'error' on
    // its client, where pg.Pool listens only while it is idle: without a listener
    // of our own that ends the process. Its next query fails (DatabaseUnavailable)
    // and the pool discards it on release.
    this.#pool.on('connect', (client) => client.on('error', () => void this.check()));
  }

  /** For Kysely: a connection, or DatabaseUnavailableError. */
  async connect(): Promise<PoolClient> {
    const client = await this.#connect();
    return {
      query: (...args: unknown[]) => {
        const result = (client.query as (...a: unknown[]) => unknown)(...args);
        if (!(result instanceof Promise)) return result; // a cursor (streaming)
        return result.catch((error: unknown) => {
          if (!isUnavailable(error)) throw error;
          void this.check();
          throw new DatabaseUnavailableError(reasonOf(error), { cause: error, sqlState: sqlStateOf(error) });
        });
      },
      release: (destroy?: boolean) => client.release(destroy),
    };
  }

  async #connect(): Promise<pg.PoolClient> {
    // Credentials rotate: a role may accept a newer or an older password than the
    // one that worked last; try each once before giving up.
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await this.#pool.connect();
        this.#report({ ok: true });
        return client;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '28P01' && attempt + 1 < this.#passwords.length) {
          this.#current = (this.#current + 1) % this.#passwords.length;
          continue;
        }
        if (!isUnavailable(error)) throw error;
        if (code !== ownLimit) this.#report({ ok: false, reason: reasonOf(error) });
        throw new DatabaseUnavailableError(reasonOf(error), { cause: error, sqlState: sqlStateOf(error) });
      }
    }
  }

  /** Reaches the database as the tenant role; reports and returns the outcome. */
  async check(): Promise<DatabaseHealth> {
    try {
      const client = await this.#connect();
      try {
        await client.query('select 1');
      } finally {
        client.release();
      }
      return { ok: true };
    } catch (error) {
      const health: DatabaseHealth = { ok: false, reason: reasonOf((error as { cause?: unknown }).cause ?? error) };
      this.#report(health);
      return health;
    }
  }

  /** Connections open now (busy and idle). */
  get connections(): number {
    return this.#pool.totalCount;
  }

  /**
   * From now on, probes while the database is away and calls `onHealth` when it
   * goes away or comes back (never twice in a row with the same `ok`).
   */
  watch(onHealth: (health: DatabaseHealth) => void): void {
    this.#onHealth = onHealth;
    if (!this.#healthy) this.#startProbing();
  }

  #startProbing(): void {
    this.#probe ??= setInterval(() => void this.check(), this.#probeInterval);
  }

  #report(health: DatabaseHealth): void {
    if (this.#ended || health.ok === this.#healthy) return;
    this.#healthy = health.ok;
    if (!this.#onHealth) return;
    if (!health.ok) this.#startProbing();
    else {
      clearInterval(this.#probe);
      this.#probe = undefined;
    }
    this.#onHealth(health);
  }

  async end(): Promise<void> {
    this.#ended = true;
    clearInterval(this.#probe);
    await this.#pool.end();
  }
}
