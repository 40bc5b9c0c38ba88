// Makes the database match the config: the registry in public, and for every
// tenant a role of its own that owns its schema and reads the shared tables
// through one shared-reader role. Needs no superuser: CREATEROLE and owning
// the database.
//
// Nothing is granted to a tenant role on a shared object: a table's or the
// database's privileges live in its one catalog row, which cannot grow past a
// page (PostgreSQL refuses the 2,443rd grant on one table). Shared tables and
// CONNECT are granted to the shared-reader role, and each tenant role is a
// member of it (memberships are rows of their own, and scale).
//
// DDL runs on one admin connection under an advisory lock (nodes that start
// at once would race on CREATE ROLE), many sites per round trip, in phases:
// PostgreSQL checks a CREATEROLE admin's authority over a role by walking all
// of the admin's memberships (one per tenant), uncached, for every COMMENT ON
// ROLE or ALTER ROLE; measured, that made the 3,000th tenant cost 16 ms where
// the first cost 1. So a tenant role gets no comment (the registry, written in
// the same transaction, says which roles are tenantd's), its statement_timeout
// is set at connect (tenant-credentials.ts), an existing role is altered only
// when its own settings changed, and memberships are granted one statement
// per batch.
import pg from 'pg';
import type { Config, Site } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { isSiteSchemaName, isTenantSchemaName, maxRolePrefixLength } from '../base/schema-name.ts';
import { connectAdmin } from './admin-connection.ts';
import { createRegistry, Fingerprint, readRegistry, recordMigrations, registryTable, syncRegistry, upsertStatement, type RegistryRow } from './registry.ts';

export { registryTable, type RegistryRow } from './registry.ts';

export interface ProvisionerOptions {
  adminUrl: string;
  /** Default: derived from the database name. */
  rolePrefix?: string | undefined;
  /** CONNECTION LIMIT of each tenant role. */
  connectionLimit: number;
  /** The database name passwords derive from; default: this one's. */
  identity?: string | undefined;
}

/**
 * The way roles are provisioned, part of every fingerprint: a change here
 * provisions every role once more (2: shared reads and CONNECT through
 * membership of the shared-reader role, no grant to a tenant role, verifiers
 * of 16 iterations, statement_timeout set at connect).
 */
const scheme = 2;

/** Sites provisioned per round trip (and per transaction). */
const batchSize = 100;

/** A site to provision, with its role's SCRAM verifier. */
export interface SiteToProvision {
  site: Site;
  verifier: string;
}

/** What provisioning does for one site. */
interface Plan extends SiteToProvision {
  role: string;
  /** The role exists (ours). */
  exists: boolean;
  /** It exists and its own settings changed (or were set by an earlier scheme): ALTER ROLE. */
  alter: boolean;
  fingerprint: Fingerprint;
}

export class Provisioner {
  readonly database: string;
  readonly rolePrefix: string;
  /** The database name tenant passwords derive from: the default server's, on every server. */
  readonly identity: string;
  readonly #options: ProvisionerOptions;
  #client: pg.Client | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #serverVersion = 0;

  /**
   * A provisioner for the `database` section of a config; on another server
   * than the default, give the default's (`base`): a tenant's role then has
   * one name (its prefix) and one password (its identity) on every server.
   */
  static forConfig(database: Config['database'], adminUrl: string, base?: Provisioner): Provisioner {
    return new Provisioner({
      adminUrl,
      rolePrefix: base ? base.rolePrefix : database.rolePrefix,
      identity: base?.identity,
      connectionLimit: database.connectionLimit,
    });
  }

  constructor(options: ProvisionerOptions) {
    this.#options = options;
    this.database = decodeURIComponent(new URL(options.adminUrl).pathname.slice(1)) || 'postgres';
    this.identity = options.identity ?? this.database;
    this.rolePrefix = options.rolePrefix ?? `${this.database.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^[^a-z]/, 't').slice(0, maxRolePrefixLength - 1)}_`;
  }

  /** The role of a site; `public` gets the public-site role. Names no schema can produce for `_`-led suffixes. */
  roleOf(schema: string): string {
    if (!isSiteSchemaName(schema)) throw new errors.SchemaName(schema);
    return schema === 'public' ? `${this.rolePrefix}_public` : `${this.rolePrefix}${schema}`;
  }

  /** The role that shared migrations grant SELECT to; every site role is a member of it. */
  get sharedReaderRole(): string {
    return `${this.rolePrefix}_shared`;
  }

  /** Runs `work` alone on this provisioner's admin connection (placement, moves). */
  withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.#exclusive(work);
  }

  /** As withClient, and alone in the database (the provisioning lock). */
  withLock<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.#locked(work);
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
      await createRegistry(c);
      await this.#ensureRole(c, this.sharedReaderRole, 'nologin', '_shared');
      // Tenant roles connect through their membership of the shared reader.
      await c.query(`grant connect on database ${db} to ${c.escapeIdentifier(this.sharedReaderRole)}`);
    });
  }

  /**
   * What provisioning `site` with `verifier` sets, as the registry records it:
   * the site's entry (name, hosts, settings), and its role (password, limits,
   * the scheme), apart, so that a change of hosts does not alter the role.
   */
  fingerprint(site: Site, verifier: string): Fingerprint {
    const role = this.roleOf(site.schema);
    return Fingerprint.of([this.database, site.schema, role, site.name, site.hosts, site.settings], [scheme, role, this.#options.connectionLimit, verifier]);
  }

  /** Creates or updates one site's role and schema and records it (see provisionMany). */
  async provision(site: Site, verifier: string): Promise<void> {
    const error = (await this.provisionMany([{ site, verifier }])).get(site.schema);
    if (error) throw error;
  }

  /**
   * Creates or updates each site's role (its password set from `verifier`) and
   * schema, makes it a member of the shared reader, and records it in the
   * registry with its fingerprint. Many sites per round trip; a batch that
   * fails is done again one site at a time, so that one site's failure never
   * hides the others'. Returns the error of each site that failed.
   */
  provisionMany(sites: readonly SiteToProvision[]): Promise<Map<string, Error>> {
    return this.#locked(async (c) => {
      const failed = new Map<string, Error>();
      const roles = sites.map((s) => this.roleOf(s.site.schema));
      const found = await c.query<{ rolname: string; marker: string | null }>("select rolname, shobj_description(oid, 'pg_authid') as marker from pg_roles where rolname = any($1)", [roles]);
      const markers = new Map(found.rows.map((r) => [r.rolname, r.marker]));
      const registry = new Map((await readRegistry(c)).map((r) => [r.schema, r]));
      const plans: Plan[] = [];
      for (const one of sites) {
        const role = this.roleOf(one.site.schema);
        const recorded = registry.get(one.site.schema);
        const exists = markers.has(role);
        // Ours: recorded in this database's registry as this site's role, or
        // marked by a tenantd of this database (the public site, and tenants of
        // earlier versions); any other role of that name is someone else's.
        const ours = (recorded !== undefined && recorded.role === role) || markers.get(role) === this.#marker(one.site.schema);
        if (exists && !ours) {
          failed.set(one.site.schema, new errors.RoleForeign(role));
          continue;
        }
        const wanted = this.fingerprint(one.site, one.verifier);
        plans.push({ ...one, role, exists, alter: exists && !wanted.sameRole(recorded?.provisioned), fingerprint: wanted });
      }
      for (let at = 0; at < plans.length; at += batchSize) {
        const batch = plans.slice(at, at + batchSize);
        try {
          await c.query(this.#batch(c, batch));
        } catch {
          await c.query('rollback').catch(() => {});
          // One at a time, to say which failed.
          for (const plan of batch) {
            try {
              await c.query(this.#batch(c, [plan]));
            } catch (error) {
              await c.query('rollback').catch(() => {});
              failed.set(plan.site.schema, error as Error);
            }
          }
        }
      }
      return failed;
    });
  }

  #marker(site: string): string {
    return `tenantd:${this.database}:${site}`;
  }

  /** One transaction that provisions `plans`: the statements of each kind together (see the top of this file). */
  #batch(c: pg.ClientBase, plans: readonly Plan[]): string {
    const id = (name: string) => c.escapeIdentifier(name);
    const db = id(this.database);
    const modern = this.#serverVersion >= 160000;
    const attributes = (plan: Plan) => `login inherit connection limit ${Number(this.#options.connectionLimit)} password ${c.escapeLiteral(plan.verifier)}`;
    const created = plans.filter((p) => !p.exists);
    const altered = plans.filter((p) => p.alter);
    const tenants = plans.filter((p) => isTenantSchemaName(p.site.schema));
    const statements = [
      'begin',
      // PostgreSQL 16 grants a role to the CREATEROLE user who makes it (ADMIN);
      // with SET too, the admin may hand the schema to it and run its migrations as it.
      ...(modern ? ["set local createrole_self_grant = 'set'"] : []),
      ...created.map((p) => `create role ${id(p.role)} ${attributes(p)}`),
      // The public site's role is not in the registry: its comment says it is tenantd's.
      ...created.filter((p) => p.site.schema === 'public').map((p) => `comment on role ${id(p.role)} is ${c.escapeLiteral(this.#marker('public'))}`),
      ...altered.flatMap((p) => [
        `alter role ${id(p.role)} ${attributes(p)}`,
        // What earlier versions granted to each role; the shared reader holds it now.
        `revoke all on all tables in schema public from ${id(p.role)}`,
        `revoke connect on database ${db} from ${id(p.role)}`,
      ]),
      // The tenant inherits the shared reads and may not become the shared reader (16+).
      `grant ${id(this.sharedReaderRole)} to ${plans.map((p) => id(p.role)).join(', ')}${modern ? ' with inherit true, set false' : ''}`,
      // Before 16 the admin becomes a member of each new role by a grant of its own.
      ...(!modern && created.some((p) => isTenantSchemaName(p.site.schema)) ? [`grant ${created.filter((p) => isTenantSchemaName(p.site.schema)).map((p) => id(p.role)).join(', ')} to current_user`] : []),
      ...tenants.flatMap((p) => [`create schema if not exists ${id(p.site.schema)} authorization ${id(p.role)}`, `alter schema ${id(p.site.schema)} owner to ${id(p.role)}`]),
      ...(tenants.length > 0 ? [upsertStatement(c, tenants.map((p) => ({ schema: p.site.schema, name: p.site.name, hosts: p.site.hosts, settings: p.site.settings, role: p.role, provisioned: p.fingerprint.toString() })))] : []),
      'commit',
    ];
    return statements.join(';\n');
  }

  async #ensureRole(c: pg.Client, role: string, attributes: string, site: string): Promise<void> {
    const found = await c.query('select shobj_description(oid, \'pg_authid\') as marker from pg_roles where rolname = $1', [role]);
    const r = c.escapeIdentifier(role);
    if (found.rowCount === 0) {
      await c.query(`create role ${r} ${attributes}`);
      await c.query(`comment on role ${r} is ${c.escapeLiteral(this.#marker(site))}`);
    } else if (found.rows[0].marker !== this.#marker(site)) {
      throw new errors.RoleForeign(role);
    } else {
      await c.query(`alter role ${r} ${attributes}`);
    }
  }

  /** Records the tenant migrations applied in `schema`. */
  recordMigrations(schema: string, names: readonly string[]): Promise<void> {
    return this.#exclusive((c) => recordMigrations(c, schema, names));
  }

  /** Marks every registered tenant not in `schemas` as removed; their data stays. */
  syncRegistry(schemas: readonly string[]): Promise<void> {
    return this.#exclusive((c) => syncRegistry(c, schemas));
  }

  registry(): Promise<RegistryRow[]> {
    return this.#exclusive((c) => readRegistry(c));
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
        // What the admin granted (and earlier versions granted directly), the admin revokes.
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
