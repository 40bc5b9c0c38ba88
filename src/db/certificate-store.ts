// Certificates ordered by ACME, kept in the database so that every node on it
// serves the same ones and only one node orders a given name at a time: one
// row per host (its chain, its private key as the caller sealed it, and how
// its last order went), the ACME account per CA, the HTTP-01 answers of the
// orders under way (a CA may ask any node), and a log of orders for the hourly
// limit. The tables live in `public`, readable by the admin role only.
import pg from 'pg';

export const certificateTables = {
  certificates: 'tenantd_certificates',
  accounts: 'tenantd_acme_accounts',
  challenges: 'tenantd_acme_challenges',
  orders: 'tenantd_acme_orders',
} as const;

/** One host's row. */
export interface StoredCertificate {
  host: string;
  /** PEM chain, null until one was issued. */
  cert: string | null;
  /** The private key, sealed by the caller. */
  key: Buffer | null;
  failures: number;
  /** The CA's (or the network's) last refusal, one line. */
  lastError: string | null;
  /** No order before this (backoff after a failure). */
  nextTry: Date | null;
  /** `tenantd certs renew` asked for a new one. */
  renewRequested: boolean;
  updatedAt: Date;
}

/** An ACME account: its key (sealed) and URL at one CA's directory. */
export interface StoredAccount {
  key: Buffer;
  url: string;
}

/** Advisory-lock class of certificate orders (the second key is the host's hash). */
const orderLock = 0x74_6c_73; // 'tls'

const columns = 'host, cert, key, failures, last_error, next_try, renew_requested, updated_at';

function rowOf(r: Record<string, unknown>): StoredCertificate {
  return {
    host: r.host as string,
    cert: r.cert as string | null,
    key: r.key as Buffer | null,
    failures: r.failures as number,
    lastError: r.last_error as string | null,
    nextTry: r.next_try as Date | null,
    renewRequested: r.renew_requested as boolean,
    updatedAt: r.updated_at as Date,
  };
}

export class CertificateStore {
  readonly #pool: pg.Pool;

  constructor(adminUrl: string) {
    // Two: the order under way holds one for its lock; reads take the other.
    this.#pool = new pg.Pool({ connectionString: adminUrl, max: 2, idleTimeoutMillis: 30_000 });
    this.#pool.on('error', () => {});
  }

  /** Creates the tables if missing (several nodes at once: serialized by a lock). */
  async create(): Promise<void> {
    const c = await this.#pool.connect();
    try {
      await c.query('begin');
      await c.query('select pg_advisory_xact_lock($1, 0)', [orderLock]);
      const t = certificateTables;
      await c.query(`create table if not exists public.${t.certificates} (
        host text primary key,
        cert text,
        key bytea,
        failures integer not null default 0,
        last_error text,
        next_try timestamptz,
        renew_requested boolean not null default false,
        updated_at timestamptz not null default now())`);
      await c.query(`create table if not exists public.${t.accounts} (directory text primary key, key bytea not null, url text not null, created_at timestamptz not null default now())`);
      await c.query(`create table if not exists public.${t.challenges} (token text primary key, key_authorization text not null, created_at timestamptz not null default now())`);
      await c.query(`create table if not exists public.${t.orders} (at timestamptz not null default now(), host text not null)`);
      for (const table of Object.values(t)) await c.query(`revoke all on public.${table} from public`);
      await c.query('commit');
    } catch (error) {
      await c.query('rollback').catch(() => {});
      throw error;
    } finally {
      c.release();
    }
  }

  /** Every host's row. */
  async all(): Promise<StoredCertificate[]> {
    const { rows } = await this.#pool.query(`select ${columns} from public.${certificateTables.certificates}`);
    return rows.map(rowOf);
  }

  async get(host: string, client: pg.ClientBase | pg.Pool = this.#pool): Promise<StoredCertificate | undefined> {
    const { rows } = await client.query(`select ${columns} from public.${certificateTables.certificates} where host = $1`, [host]);
    return rows[0] ? rowOf(rows[0]) : undefined;
  }

  /**
   * Runs `order` holding the lock of `host` (a session advisory lock, so a node
   * that dies mid-order frees it); undefined without running it when another
   * node holds it.
   */
  async whileOrdering<T>(host: string, order: (current: StoredCertificate | undefined) => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    const c = await this.#pool.connect();
    try {
      const { rows } = await c.query('select pg_try_advisory_lock($1, hashtext($2)) as locked', [orderLock, host]);
      if (!rows[0].locked) return { ran: false };
      try {
        return { ran: true, value: await order(await this.get(host, c)) };
      } finally {
        await c.query('select pg_advisory_unlock($1, hashtext($2))', [orderLock, host]);
      }
    } finally {
      c.release();
    }
  }

  /** A certificate issued for `host` (its key sealed): failures and any renewal request cleared. */
  async issued(host: string, cert: string, key: Buffer): Promise<void> {
    await this.#pool.query(`insert into public.${certificateTables.certificates} as c (host, cert, key) values ($1, $2, $3)
      on conflict (host) do update set cert = $2, key = $3, failures = 0, last_error = null, next_try = null, renew_requested = false, updated_at = now()`, [host, cert, key]);
  }

  /** An order for `host` failed: its error and when to try again. */
  async failed(host: string, error: string, nextTry: Date): Promise<void> {
    await this.#pool.query(`insert into public.${certificateTables.certificates} as c (host, failures, last_error, next_try) values ($1, 1, $2, $3)
      on conflict (host) do update set failures = c.failures + 1, last_error = $2, next_try = $3, updated_at = now()`, [host, error, nextTry]);
  }

  /** Asks for a new certificate for `host` at the next chance, now (its backoff lifted). */
  async requestRenewal(host: string): Promise<void> {
    await this.#pool.query(`insert into public.${certificateTables.certificates} as c (host, renew_requested) values ($1, true)
      on conflict (host) do update set renew_requested = true, next_try = null, updated_at = now()`, [host]);
  }

  /** Records an order's start, for the hourly limit (a day of them kept). */
  async recordOrder(host: string): Promise<void> {
    const t = certificateTables.orders;
    await this.#pool.query(`insert into public.${t} (host) values ($1)`, [host]);
    await this.#pool.query(`delete from public.${t} where at < now() - interval '1 day'`);
  }

  /** Orders started in the last hour (all nodes). */
  async ordersInLastHour(): Promise<number> {
    const { rows } = await this.#pool.query(`select count(*)::int as n from public.${certificateTables.orders} where at > now() - interval '1 hour'`);
    return rows[0].n as number;
  }

  async account(directory: string): Promise<StoredAccount | undefined> {
    const { rows } = await this.#pool.query(`select key, url from public.${certificateTables.accounts} where directory = $1`, [directory]);
    return rows[0] ? { key: rows[0].key as Buffer, url: rows[0].url as string } : undefined;
  }

  /** Keeps the first account made for `directory` (two nodes at once: the first wins); returns the one kept. */
  async saveAccount(directory: string, account: StoredAccount): Promise<StoredAccount> {
    await this.#pool.query(`insert into public.${certificateTables.accounts} (directory, key, url) values ($1, $2, $3) on conflict (directory) do nothing`, [directory, account.key, account.url]);
    return (await this.account(directory))!;
  }

  async putChallenge(token: string, keyAuthorization: string): Promise<void> {
    await this.#pool.query(`insert into public.${certificateTables.challenges} (token, key_authorization) values ($1, $2) on conflict (token) do update set key_authorization = $2`, [token, keyAuthorization]);
  }

  async challenge(token: string): Promise<string | undefined> {
    const { rows } = await this.#pool.query(`select key_authorization from public.${certificateTables.challenges} where token = $1`, [token]);
    return rows[0]?.key_authorization as string | undefined;
  }

  async removeChallenge(token: string): Promise<void> {
    await this.#pool.query(`delete from public.${certificateTables.challenges} where token = $1 or created_at < now() - interval '1 day'`, [token]);
  }

  /** Closes the pool; a connection an order still holds is not waited for beyond two seconds (the process is stopping). */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#pool.end(), new Promise((resolve) => { timer = setTimeout(resolve, 2_000); })]);
    clearTimeout(timer);
  }
}
