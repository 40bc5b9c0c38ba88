// The lock a move holds for its whole run, on a connection of its own to the
// default server: one move of a tenant at a time across every node and
// command, and a move recorded in the placement table whose lock nobody holds
// is one whose tenantd died (the next start rolls it back). Its phase changes
// are announced (NOTIFY tenantd_placement) so that the other nodes hold the
// tenant's requests at the cutover and follow it to its new server at once.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import { connectAdmin } from './admin-connection.ts';
import { recordMove, recordSwitch, type MoveRecord } from './placement.ts';

/** The channel placement changes are announced on (payload: the schema). */
export const placementChannel = 'tenantd_placement';

export class MoveLock {
  readonly schema: string;
  readonly #client: pg.Client;

  private constructor(schema: string, client: pg.Client) {
    this.schema = schema;
    this.#client = client;
  }

  /** Takes the lock of `schema`'s move; TENANTD_MOVE_REFUSED when another node or command holds it. */
  static async take(defaultUrl: string, schema: string): Promise<MoveLock> {
    const lock = await MoveLock.try(defaultUrl, schema);
    if (!lock) throw new errors.MoveRefused(schema, 'another node or command is moving it now');
    return lock;
  }

  /** The lock, or undefined when someone holds it. */
  static async try(defaultUrl: string, schema: string): Promise<MoveLock | undefined> {
    const client = await connectAdmin(defaultUrl);
    const got = (await client.query("select pg_try_advisory_lock(hashtext('tenantd.move'), hashtext($1)) as got", [schema])).rows[0].got as boolean;
    if (got) return new MoveLock(schema, client);
    await client.end().catch(() => {});
    return undefined;
  }

  /** Records the move's phase (null: none under way) and announces it. */
  async record(move: MoveRecord | null): Promise<void> {
    await recordMove(this.#client, this.schema, move);
    await this.#client.query('select pg_notify($1, $2)', [placementChannel, this.schema]);
  }

  /** Records that the tenant lives on `server` now (its fenced copy left on `from`) and announces it. */
  async switchTo(server: string, from: string): Promise<void> {
    await recordSwitch(this.#client, this.schema, server, from);
    await this.#client.query('select pg_notify($1, $2)', [placementChannel, this.schema]);
  }

  async release(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}
