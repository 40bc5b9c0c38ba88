// The registry: one row per tenant in `public.tenantd_tenants` (its hosts,
// role, whether the config still names it), and what provisioning last set
// and which tenant migrations were applied, so that a run with nothing to do
// opens no connection per tenant (a thousand tenants: one query). What was set
// is kept as a fingerprint: a hash of the site's entry and one of its role's
// settings, the password's verifier among them. The registry is also the
// record of which roles are tenantd's: a tenant's role is written here in the
// transaction that creates it.
import { createHash } from 'node:crypto';
import type pg from 'pg';

export const registryTable = 'tenantd_tenants';

export interface RegistryRow {
  schema: string;
  name: string;
  hosts: string[];
  /** The tenant's settings, as its config entry had them. */
  settings: Record<string, unknown>;
  role: string;
  inConfig: boolean;
  removedAt: Date | null;
  /** What provisioning last set (a Fingerprint's text). */
  provisioned: string | null;
  /** Tenant migrations applied, as last recorded. */
  migrations: string[] | null;
}

const hash = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 22);

/**
 * What provisioning sets for a site, as `<site hash>:<role hash>`: the site's
 * registry entry, and its role (password, limits). A site whose recorded
 * fingerprint equals the wanted one needs nothing done; one whose role part
 * matches needs no ALTER ROLE.
 */
export class Fingerprint {
  readonly site: string;
  readonly role: string;

  private constructor(site: string, role: string) {
    this.site = site;
    this.role = role;
  }

  /** From what would be set: the site's entry and the role's settings (anything JSON; the role's SCRAM verifier among them). */
  static of(site: unknown, role: unknown): Fingerprint {
    return new Fingerprint(hash(JSON.stringify(site)), hash(JSON.stringify(role)));
  }

  /** True when `recorded` (a registry value) says all of this was set. */
  matches(recorded: string | null | undefined): boolean {
    return recorded === this.toString();
  }

  /** True when `recorded` says this role was set as wanted. */
  sameRole(recorded: string | null | undefined): boolean {
    return recorded != null && recorded.slice(recorded.indexOf(':') + 1) === this.role;
  }

  toString(): string {
    return `${this.site}:${this.role}`;
  }
}

/** Creates the registry table (and columns added since), idempotent; the caller holds the provisioning lock. */
export async function createRegistry(c: pg.ClientBase): Promise<void> {
  await c.query(`create table if not exists public.${registryTable} (
    schema text primary key,
    name text not null,
    hosts text[] not null,
    settings jsonb not null default '{}',
    role text not null,
    in_config boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    removed_at timestamptz
  )`);
  await c.query(`alter table public.${registryTable} add column if not exists provisioned text, add column if not exists migrations text[]`);
  await c.query(`revoke all on public.${registryTable} from public`);
}

/** Every row, by schema; none before the table exists (a command run before the first serve or migrate). */
export async function readRegistry(c: pg.ClientBase): Promise<RegistryRow[]> {
  const exists = await c.query('select to_regclass($1) as t', [`public.${registryTable}`]);
  if (!exists.rows[0].t) return [];
  const columns = await c.query('select 1 from information_schema.columns where table_schema = $1 and table_name = $2 and column_name = $3', ['public', registryTable, 'migrations']);
  const extra = columns.rowCount ? ', provisioned, migrations' : '';
  const result = await c.query(`select schema, name, hosts, settings, role, in_config, removed_at${extra} from public.${registryTable} order by schema`);
  return result.rows.map((row) => ({
    schema: row.schema, name: row.name, hosts: row.hosts, settings: row.settings ?? {}, role: row.role, inConfig: row.in_config, removedAt: row.removed_at,
    provisioned: row.provisioned ?? null, migrations: row.migrations ?? null,
  }));
}

/** The statement that records provisioned sites (their config entries, their roles, what was set): one upsert. */
export function upsertStatement(c: pg.ClientBase, rows: readonly { schema: string; name: string; hosts: readonly string[]; settings: unknown; role: string; provisioned: string }[]): string {
  const literal = (value: string) => c.escapeLiteral(value);
  const values = rows.map((row) => `(${literal(row.schema)}, ${literal(row.name)}, array[${row.hosts.map(literal).join(', ')}]::text[], ${literal(JSON.stringify(row.settings))}::jsonb, ${literal(row.role)}, true, null::timestamptz, ${literal(row.provisioned)})`);
  return `insert into public.${registryTable} (schema, name, hosts, settings, role, in_config, removed_at, provisioned)
    values ${values.join(',\n      ')}
    on conflict (schema) do update set name = excluded.name, hosts = excluded.hosts, settings = excluded.settings, role = excluded.role,
      in_config = true, removed_at = null, provisioned = excluded.provisioned, updated_at = now()`;
}

/** Records the tenant migrations applied in `schema`. */
export async function recordMigrations(c: pg.ClientBase, schema: string, names: readonly string[]): Promise<void> {
  await c.query(`update public.${registryTable} set migrations = $2 where schema = $1`, [schema, names]);
}

/** Sets whether the config names a tenant, and since when it does not (a restore puts back what the backup had). */
export async function recordPresence(c: pg.ClientBase, schema: string, inConfig: boolean, removedAt: string | null): Promise<void> {
  await c.query(`update public.${registryTable} set in_config = $2, removed_at = $3, updated_at = now() where schema = $1`, [schema, inConfig, removedAt]);
}

/** Marks every registered tenant not in `schemas` as removed; their data stays. */
export async function syncRegistry(c: pg.ClientBase, schemas: readonly string[]): Promise<void> {
  await c.query(`update public.${registryTable} set in_config = false, removed_at = coalesce(removed_at, now()), updated_at = now()
    where in_config and not (schema = any($1))`, [schemas]);
}
