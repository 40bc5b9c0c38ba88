// Watches the database from the primary: one admin connection, a `select 1`
// every few seconds. Workers notice an outage only when they touch the
// database; this tells /readyz and `status` the truth even when no request comes.
import pg from 'pg';

/** ms between probes. */
const probeInterval = 2000;
/** ms a probe may take before the database counts as unreachable. */
const probeTimeout = 2000;

export type DatabaseState = { up: true } | { up: false; reason: string; since: Date };

/** Connections other roles than the admin (tenant workers, commands) hold in this database. */
const connectionsInUse = "select count(*) filter (where usename <> current_user)::int as n from pg_stat_activity where datname = current_database()";

/** The slots moves make (data/move-tenant.ts names them). */
const moveSlots = "select slot_name from pg_replication_slots where slot_name like 'tenantd\\_move\\_%' order by 1";

export class DatabaseMonitor {
  readonly #url: string;
  readonly #onChange: (state: DatabaseState) => void;
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #state: DatabaseState = { up: true };
  #stopped = false;
  /** Tenant connections at the last probe. */
  connections = 0;
  /** Replication slots of moves (tenantd_move_*) on this server at the last probe: a move's, or one an interrupted move left. */
  moveSlots: string[] = [];

  constructor(adminUrl: string, onChange: (state: DatabaseState) => void) {
    this.#url = adminUrl;
    this.#onChange = onChange;
  }

  get state(): DatabaseState {
    return this.#state;
  }

  start(): void {
    this.#timer = setTimeout(() => void this.#probe(), probeInterval);
  }

  async #probe(): Promise<void> {
    try {
      if (!this.#client) {
        const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: probeTimeout, query_timeout: probeTimeout });
        client.on('error', () => { if (this.#client === client) this.#client = undefined; });
        this.#client = client;
        await client.connect();
      }
      this.connections = (await this.#client.query(connectionsInUse)).rows[0].n as number;
      this.moveSlots = (await this.#client.query(moveSlots)).rows.map((r) => r.slot_name as string);
      this.#set({ up: true });
    } catch (error) {
      const client = this.#client;
      this.#client = undefined;
      client?.end().catch(() => {});
      const e = error as { message?: string; code?: string };
      this.#set({ up: false, reason: `${e.message ?? String(error)}${e.code ? ` (${e.code})` : ''}`, since: this.#state.up ? new Date() : this.#state.since });
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#probe(), probeInterval);
  }

  #set(state: DatabaseState): void {
    const changed = state.up !== this.#state.up;
    this.#state = state;
    if (changed) this.#onChange(state);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#client?.end().catch(() => {});
    this.#client = undefined;
  }
}
