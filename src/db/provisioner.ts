// Makes the database match the config: the registry in public, and for every
// tenant a role of its own that owns its schema and may read only the shared
// tables granted to it. Needs no superuser: CREATEROLE and owning the database.
//
// DDL runs on one admin connection, one tenant after another: concurrent GRANTs
// on the same shared table fail with "tuple concurrently updated".
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Config, Site } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { connectAdmin } from './admin-connection.ts';
import { isSiteSchemaName, isTenantSchemaName, maxRolePrefixLength } from '../base/schema-name.ts';

export const registryTable = 'tenantd_tenants';

export interface ProvisionerOptions {
  adminUrl: string;
  /** Default: derived from the database name. */
  rolePrefix?: string | undefined;
  /** CONNECTION LIMIT of each tenant role. */
  connectionLimit: number;
  /** statement_timeout default of each tenant role, in ms; 0 = none. */
  statementTimeout: number;
}

export interface RegistryRow {
  schema: string;
  name: string;
  hosts: string[];
  role: string;
  inConfig: boolean;
  removedAt: Date | null;
  /** Fingerprint of what provision() last set (see provisionSites). */
  provisioned: string | null;
  /** Tenant migrations applied, as last recorded. */
  migrations: string[] | null;
}

export class Provisioner {
  readonly database: string;
  readonly rolePrefix: string;
  readonly #options: ProvisionerOptions;
  #client: pg.Client | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #serverVersion = 0;

  /** A provisioner for the `database` section of a config. */
  static forConfig(database: Config['database'], adminUrl: string): Provisioner {
    return new Provisioner({
      adminUrl,
      rolePrefix: database.rolePrefix,
      connectionLimit: database.connectionLimit,
      statementTimeout: database.statementTimeout,
    });
  }

  constructor(options: ProvisionerOptions) {
    this.#options = options;
    this.database = decodeURIComponent(new URL(options.adminUrl).pathname.slice(1)) || 'postgres';
    this.rolePrefix = options.rolePrefix ?? `${this.database.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^[^a-z]/, 't').slice(0, maxRolePrefixLength - 1)}_`;
  }

  /** The role of a site; `public` gets the public-site role. Names no schema can produce for `_`-led suffixes. */
  roleOf(schema: string): string {
    if (!isSiteSchemaName(schema)) throw new errors.SchemaName(schema);
    return schema === 'public' ? `${this.rolePrefix}_public` : `${this.rolePrefix}${schema}`;
  }

  /** The role that shared migrations grant SELECT to; each site role receives the same grants. */
  get sharedReaderRole(): string {
    return `${this.rolePrefix}_shared`;
  }

  /** Runs `work` alone on the admin connection. */
  #exclusive<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => work(await this.#connect()));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Runs `work` alone on the admin connection and alone in the database: nodes
   * that start at the same moment would otherwise race on CREATE ROLE, CREATE
   * TABLE IF NOT EXISTS and GRANT ("tuple concurrently updated").
   */
  #locked<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.#exclusive(async (c) => {
      await c.query("select pg_advisory_lock(hashtext('tenantd.provision'), 0)");
      try {
        return await work(c);
      } finally {
        await c.query("select pg_advisory_unlock(hashtext('tenantd.provision'), 0)").catch(() => {});
      }
    });
  }

  async #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = await connectAdmin(this.#options.adminUrl);
    client.on('error', () => { this.#client = undefined; });
    this.#serverVersion = Number((await client.query('show server_version_num')).rows[0].server_version_num);
    this.#client = client;
    return client;
  }

  /** Registry, database privileges and the shared-reader role; idempotent. */
  prepare(): Promise<void> {
    return this.#locked(async (c) => {
      const db = c.escapeIdentifier(this.database);
      await c.query(`revoke all on database ${db} from public`);
      await c.query('revoke create on schema public from public');
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
      // What was last provisioned and migrated, so that a run with nothing to do
      // opens no connection per tenant (a thousand tenants: one query).
      await c.query(`alter table public.${registryTable} add column if not exists provisioned text, add column if not exists migrations text[]`);
      await c.query(`revoke all on public.${registryTable} from public`);
      await this.#ensureRole(c, this.sharedReaderRole, 'nologin', '_shared');
    });
  }

  /**
   * Creates or updates a site's role and schema, grants it the shared reads, and
   * records it in the registry. With a SCRAM verifier, the role logs in with its password.
   */
  provision(spec: Site, verifier?: string): Promise<void> {
    return this.#locked(async (c) => {
      const role = this.roleOf(spec.schema);
      const r = c.escapeIdentifier(role);
      const s = c.escapeIdentifier(spec.schema);
      await this.#ensureRole(c, role, `login noinherit connection limit ${Number(this.#options.connectionLimit)}`, spec.schema);
      if (verifier !== undefined) await c.query(`alter role ${r} password ${c.escapeLiteral(verifier)}`);
      const timeout = Number(this.#options.statementTimeout);
      await c.query(timeout > 0 ? `alter role ${r} in database ${c.escapeIdentifier(this.database)} set statement_timeout = ${timeout}` : `alter role ${r} in database ${c.escapeIdentifier(this.database)} reset statement_timeout`);
      await c.query(`grant connect on database ${c.escapeIdentifier(this.database)} to ${r}`);
      if (isTenantSchemaName(spec.schema)) {
        // The admin needs membership to hand the schema to the role and to run the
        // tenant's migrations as it (SET ROLE). PostgreSQL 16 split membership into
        // INHERIT/SET options; the admin takes SET only.
        await c.query(this.#serverVersion >= 160000 ? `grant ${r} to current_user with inherit false, set true` : `grant ${r} to current_user`);
        await c.query(`create schema if not exists ${s} authorization ${r}`);
        await c.query(`alter schema ${s} owner to ${r}`);
      }
      await this.#grantSharedReads(c, r);
      if (!isTenantSchemaName(spec.schema)) return;
      await c.query(`insert into public.${registryTable} (schema, name, hosts, settings, role, in_config, removed_at)
        values ($1, $2, $3, $4, $5, true, null)
        on conflict (schema) do update set name = $2, hosts = $3, settings = $4, role = $5, in_config = true, removed_at = null, updated_at = now()`,
      [spec.schema, spec.name, spec.hosts, JSON.stringify(spec.settings), role]);
    });
  }

  /** Copies the shared-reader role's SELECT grants on public tables to `role`. */
  async #grantSharedReads(c: pg.Client, role: string): Promise<void> {
    const tables = await c.query(`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p') and has_table_privilege($1, c.oid, 'select')`,
    [this.sharedReaderRole]);
    for (const { relname } of tables.rows) await c.query(`grant select on public.${c.escapeIdentifier(relname)} to ${role}`);
  }

  async #ensureRole(c: pg.Client, role: string, attributes: string, site: string): Promise<void> {
    const marker = `tenantd:${this.database}:${site}`;
    const found = await c.query('select shobj_description(oid, \'pg_authid\') as marker from pg_roles where rolname = $1', [role]);
    const r = c.escapeIdentifier(role);
    if (found.rowCount === 0) {
      await c.query(`create role ${r} ${attributes}`);
      await c.query(`comment on role ${r} is ${c.escapeLiteral(marker)}`);
    } else if (found.rows[0].marker !== marker) {
      throw new errors.RoleForeign(role);
    } else {
      await c.query(`alter role ${r} ${attributes}`);
    }
  }

  /**
   * What provision(spec, verifier) sets, as a fingerprint: `<settings hash>:<password hash>`.
   * Without a verifier (migrate), the password part is `*`: it matches any.
   */
  fingerprint(spec: Site, sharedTables: readonly string[], verifier?: string): string {
    const o = this.#options;
    const settings = JSON.stringify([this.database, spec.schema, this.roleOf(spec.schema), spec.name, spec.hosts, spec.settings, o.connectionLimit, o.statementTimeout, sharedTables]);
    const hash = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 22);
    return `${hash(settings)}:${verifier === undefined ? '*' : hash(verifier)}`;
  }

  /** Records what provisioning set for `schema` (its fingerprint). */
  recordProvisioned(schema: string, fingerprint: string): Promise<void> {
    return this.#exclusive(async (c) => {
      await c.query(`update public.${registryTable} set provisioned = $2 where schema = $1`, [schema, fingerprint]);
    });
  }

  /** Records the tenant migrations applied in `schema`. */
  recordMigrations(schema: string, names: readonly string[]): Promise<void> {
    return this.#exclusive(async (c) => {
      await c.query(`update public.${registryTable} set migrations = $2 where schema = $1`, [schema, names]);
    });
  }

  /** The public tables tenants may read (granted to the shared-reader role). */
  sharedTables(): Promise<string[]> {
    return this.#exclusive(async (c) => {
      const tables = await c.query(`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p') and has_table_privilege($1, c.oid, 'select') order by 1`, [this.sharedReaderRole]);
      return tables.rows.map((r) => r.relname as string);
    });
  }

  /** Marks every registered tenant not in `schemas` as removed; their data stays. */
  syncRegistry(schemas: readonly string[]): Promise<void> {
    return this.#exclusive(async (c) => {
      await c.query(`update public.${registryTable} set in_config = false, removed_at = coalesce(removed_at, now()), updated_at = now()
        where in_config and not (schema = any($1))`, [schemas]);
    });
  }

  registry(): Promise<RegistryRow[]> {
    return this.#exclusive(async (c) => {
      const exists = await c.query('select to_regclass($1) as t', [`public.${registryTable}`]);
      if (!exists.rows[0].t) return [];
      const columns = await c.query('select 1 from information_schema.columns where table_schema = $1 and table_name = $2 and column_name = $3', ['public', registryTable, 'migrations']);
      const extra = columns.rowCount ? ', provisioned, migrations' : '';
      const result = await c.query(`select schema, name, hosts, role, in_config, removed_at${extra} from public.${registryTable} order by schema`);
      return result.rows.map((row) => ({
        schema: row.schema, name: row.name, hosts: row.hosts, role: row.role, inConfig: row.in_config, removedAt: row.removed_at,
        provisioned: row.provisioned ?? null, migrations: row.migrations ?? null,
      }));
    });
  }

  /** Drops a removed tenant's schema (cascade) and role. Refuses a tenant still in the config. */
  drop(schema: string, inConfig: readonly string[]): Promise<void> {
    if (!isTenantSchemaName(schema)) return Promise.reject(new errors.SchemaName(schema));
    if (inConfig.includes(schema)) return Promise.reject(new errors.TenantInConfig(schema));
    return this.#locked(async (c) => {
      const row = await c.query(`select role from public.${registryTable} where schema = $1`, [schema]);
      if (row.rowCount === 0) throw new errors.TenantUnknown(schema);
      const r = c.escapeIdentifier(row.rows[0].role);
      await c.query('begin');
      try {
        // As the tenant role: the admin holds SET but not INHERIT on it, and only
        // an owner may drop. DROP OWNED takes the schema and everything in it.
        await c.query(`set local role ${r}`);
        await c.query(`drop owned by ${r}`);
        await c.query('reset role');
        // What the admin granted, the admin revokes.
        await c.query(`revoke all on all tables in schema public from ${r}`);
        await c.query(`revoke all on database ${c.escapeIdentifier(this.database)} from ${r}`);
        await c.query(`drop schema if exists ${c.escapeIdentifier(schema)} cascade`);
        await c.query(`drop role if exists ${r}`);
        await c.query(`delete from public.${registryTable} where schema = $1`, [schema]);
        await c.query('commit');
      } catch (error) {
        await c.query('rollback');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#client?.end().catch(() => {});
    this.#client = undefined;
  }
}
