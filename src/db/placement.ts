// Where each tenant lives: one row per tenant in `public.tenantd_placement` on
// the default server, the truth every node follows. A tenant is placed once
// (its entry's `database`, else the placement rule) when it is first
// provisioned; after that only a move changes its row, so a restart, a reload
// or an edited entry never moves data by accident. A move in progress is
// recorded in the row too (its phase, its target), so that a tenantd killed
// mid-move finds it at the next start.
import type pg from 'pg';

export const placementTable = 'tenantd_placement';

/** Where a move stands; the source is never changed before `switched`. */
export type MovePhase = 'preparing' | 'copying' | 'cutover' | 'switched';

export interface MoveRecord {
  readonly to: string;
  readonly phase: MovePhase;
  readonly mode: 'online' | 'offline';
  readonly startedAt: string;
}

export interface Placement {
  readonly schema: string;
  /** The server it is served from. */
  readonly server: string;
  /** A move under way, if any. */
  readonly move: MoveRecord | null;
  /** A server holding a fenced copy left by a finished move (dropped by `tenants drop --from`), if any. */
  readonly leftOn: string | null;
  /** When that copy was left. */
  readonly leftAt: Date | null;
}

/** Creates the table (on the default server), idempotent; tenants provisioned before it are placed on default. */
export async function createPlacement(c: pg.ClientBase, registryTable: string): Promise<void> {
  await c.query(`create table if not exists public.${placementTable} (
    schema text primary key,
    server text not null,
    move jsonb,
    left_on text,
    updated_at timestamptz not null default now()
  )`);
  await c.query(`alter table public.${placementTable} add column if not exists left_at timestamptz`);
  await c.query(`revoke all on public.${placementTable} from public`);
  await c.query(`insert into public.${placementTable} (schema, server) select schema, 'default' from public.${registryTable} on conflict do nothing`);
}

export async function readPlacement(c: pg.ClientBase): Promise<Map<string, Placement>> {
  const exists = await c.query('select to_regclass($1) as t', [`public.${placementTable}`]);
  if (!exists.rows[0].t) return new Map();
  const result = await c.query(`select * from public.${placementTable}`);
  return new Map(result.rows.map((row) => [row.schema, { schema: row.schema, server: row.server, move: row.move, leftOn: row.left_on, leftAt: row.left_at ?? null }]));
}

/** Records where new tenants go, unless another node placed them first; returns every tenant's row after. */
export async function place(c: pg.ClientBase, wanted: ReadonlyMap<string, string>): Promise<Map<string, Placement>> {
  if (wanted.size > 0) {
    await c.query(`insert into public.${placementTable} (schema, server) select * from unnest($1::text[], $2::text[]) on conflict do nothing`,
      [[...wanted.keys()], [...wanted.values()]]);
  }
  return readPlacement(c);
}

/** Records a move's phase (null: none under way). */
export async function recordMove(c: pg.ClientBase, schema: string, move: MoveRecord | null): Promise<void> {
  await c.query(`update public.${placementTable} set move = $2, updated_at = now() where schema = $1`, [schema, move === null ? null : JSON.stringify(move)]);
}

/** The switch of a move: the tenant lives on `server` from now on; its old copy stays (fenced) on `from`. */
export async function recordSwitch(c: pg.ClientBase, schema: string, server: string, from: string): Promise<void> {
  await c.query(`update public.${placementTable} set server = $2, left_on = $3, left_at = now(), move = null, updated_at = now() where schema = $1`, [schema, server, from]);
}

/** The fenced copy on `server` was dropped. */
export async function recordDropped(c: pg.ClientBase, schema: string): Promise<void> {
  await c.query(`update public.${placementTable} set left_on = null, left_at = null, updated_at = now() where schema = $1`, [schema]);
}

/** Forgets a tenant whose data is gone (tenants drop). */
export async function forgetPlacement(c: pg.ClientBase, schema: string): Promise<void> {
  await c.query(`delete from public.${placementTable} where schema = $1`, [schema]);
}

/**
 * The server each site is served from: the recorded one; a site not placed
 * yet goes where its entry says, else by `rule` (default, or the server with
 * the fewest tenants). A site whose entry names another server than the one it
 * lives on stays where it lives, with one line saying how to move it.
 */
export function assignServers(
  sites: readonly { schema: string; database?: string | undefined }[],
  recorded: ReadonlyMap<string, Placement>,
  servers: readonly string[],
  rule: 'default' | 'fewest',
): { servers: Map<string, string>; unplaced: Map<string, string>; warnings: string[] } {
  const counts = new Map(servers.map((s) => [s, 0]));
  for (const row of recorded.values()) counts.set(row.server, (counts.get(row.server) ?? 0) + 1);
  const assigned = new Map<string, string>();
  const unplaced = new Map<string, string>();
  const warnings: string[] = [];
  for (const site of sites) {
    if (site.schema === 'public') {
      assigned.set(site.schema, 'default');
      continue;
    }
    const row = recorded.get(site.schema);
    if (row) {
      assigned.set(site.schema, row.server);
      if (site.database !== undefined && site.database !== row.server && row.move?.to !== site.database) {
        warnings.push(`${site.schema} lives on database server ${row.server} (the registry); its entry names ${site.database}: move it with \`tenantd tenants move ${site.schema} --to ${site.database}\``);
      }
      continue;
    }
    let server = site.database;
    if (server === undefined) {
      server = 'default';
      if (rule === 'fewest') for (const [name, n] of counts) if (n < counts.get(server)!) server = name;
    }
    counts.set(server, (counts.get(server) ?? 0) + 1);
    assigned.set(site.schema, server);
    unplaced.set(site.schema, server);
  }
  return { servers: assigned, unplaced, warnings };
}
