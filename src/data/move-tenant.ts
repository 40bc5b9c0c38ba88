// The database side of moving a tenant to another server (tenants move): the
// target made ready (provisioned, migrated to exactly the source's list,
// compared), then either logical replication (online: a publication of the
// tenant's tables on the source, a subscription on the target that copies
// them and follows every change) or the copy engine (offline). Around the
// switch the service holds the tenant's requests while this fences the source
// role (NOLOGIN, its sessions ended), waits until the target has every change
// the source made, and carries the sequences over.
//
// The source is never changed before the fence, and the fence is undone by an
// abort: a move that fails anywhere before the switch leaves the tenant where
// it was. Every object a move makes is named tenantd_move_<schema>, so a
// re-run or an abort finds what an interrupted one left and removes it.
import type pg from 'pg';
import type { Site } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { migrationTable } from '../db/migration-files.ts';
import type { Provisioner } from '../db/provisioner.ts';
import type { DatabaseServers } from '../db/database-servers.ts';
import { readReplicationRights } from '../db/move-readiness.ts';
import { recordMigrations } from '../db/registry.ts';
import { catalogDrift, readCatalog, type Catalog } from './catalog.ts';
import { beginCopy, tableSum } from './copy-session.ts';
import { migrateTarget } from './copy-target.ts';
import { MemoryArchive } from './backup-file.ts';
import { exportSchemas } from './export-schemas.ts';
import { importSchema } from './import-schema.ts';

/** One end of a move: a server's name, admin URL and provisioner. */
export interface MoveEnd {
  readonly name: string;
  readonly adminUrl: string;
  readonly provisioner: Provisioner;
}

export interface MoveOptions {
  schema: string;
  source: MoveEnd;
  target: MoveEnd;
  /** The tenant's entry, for provisioning it on the target. */
  site: Site;
  /** Its role's SCRAM verifier (the same on every server). */
  verifier: string;
  /** The application's tenant migrations. */
  folder: string;
}

/** The name of the publication, subscription and slot of `schema`'s move. */
export function moveName(schema: string): string {
  return `tenantd_move_${schema}`.slice(0, 63);
}

/** Bytes of WAL the subscription may be behind before the cutover starts. */
const cutoverLag = 1024 * 1024;
/** ms between polls of the replication's progress. */
const poll = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `key=value` conninfo of a postgres:// URL, for CREATE SUBSCRIPTION. */
function conninfo(url: string): string {
  const u = new URL(url);
  const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts: [string, string][] = [
    ['host', u.hostname.replace(/^\[|\]$/g, '')],
    ['port', u.port || '5432'],
    ['dbname', decodeURIComponent(u.pathname.slice(1)) || 'postgres'],
    ['user', decodeURIComponent(u.username)],
    ['password', decodeURIComponent(u.password)],
  ];
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) parts.push(['sslmode', sslmode]);
  return parts.map(([k, v]) => `${k}=${quote(v)}`).join(' ');
}

export class TenantMove {
  /** A move of `site` from server `from` to server `to` of `servers`. */
  static between(servers: DatabaseServers, site: Site, from: string, to: string, verifier: string, folder: string): TenantMove {
    const end = (name: string): MoveEnd => {
      const server = servers.get(name);
      return { name, adminUrl: server.database.adminUrl, provisioner: server.provisioner };
    };
    return new TenantMove({ schema: site.schema, source: end(from), target: end(to), site, verifier, folder });
  }


  readonly schema: string;
  readonly role: string;
  readonly name: string;
  readonly #options: MoveOptions;
  #src: pg.Client | undefined;
  #dst: pg.Client | undefined;
  #catalog: Catalog | undefined;
  /** The migrations the source had applied, in order (read with the catalog). */
  #migrations: string[] = [];

  constructor(options: MoveOptions) {
    this.#options = options;
    this.schema = options.schema;
    this.role = options.source.provisioner.roleOf(options.schema);
    this.name = moveName(options.schema);
  }

  async #source(): Promise<pg.Client> {
    this.#src ??= await connectAdmin(this.#options.source.adminUrl);
    return this.#src;
  }

  async #target(): Promise<pg.Client> {
    this.#dst ??= await connectAdmin(this.#options.target.adminUrl);
    return this.#dst;
  }

  #refuse(reason: string): never {
    throw new errors.MoveRefused(this.schema, reason);
  }

  /** The source's structure of the tenant (its tables, in load order), read as its role. */
  async #sourceCatalog(): Promise<Catalog> {
    if (this.#catalog) return this.#catalog;
    const c = await this.#source();
    await beginCopy(c, { role: this.role, schema: this.schema });
    try {
      this.#catalog = await readCatalog(c, this.schema);
      const hasTable = (await c.query('select to_regclass($1) as t', [`${c.escapeIdentifier(this.schema)}.${migrationTable}`])).rows[0].t !== null;
      this.#migrations = hasTable ? (await c.query<{ name: string }>(`select name from ${c.escapeIdentifier(this.schema)}.${migrationTable} order by name`)).rows.map((r) => r.name) : [];
    } finally {
      await c.query('rollback').catch(() => {});
    }
    return this.#catalog;
  }

  /**
   * What the move needs, each missing thing one line (TENANTD_MOVE_REFUSED):
   * the tenant on the source; online, also wal_level=logical, the admins'
   * REPLICATION and subscription rights, free slots, senders and workers,
   * replica identity on every table, no large objects.
   */
  async preflight(online: boolean): Promise<void> {
    const { source, target } = this.#options;
    const src = await this.#source();
    const dst = await this.#target();
    if ((await src.query('select 1 from pg_namespace where nspname = $1', [this.schema])).rowCount === 0) this.#refuse(`no schema ${this.schema} on ${source.name}`);
    const ownerOnTarget = await dst.query('select r.rolname from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = $1', [this.schema]);
    if (ownerOnTarget.rowCount === 1 && ownerOnTarget.rows[0].rolname !== this.role) this.#refuse(`schema ${this.schema} on ${target.name} belongs to ${ownerOnTarget.rows[0].rolname}, not tenantd's role ${this.role}`);
    const cluster = async (c: pg.Client) => (await c.query('select system_identifier::text as id from pg_control_system()').catch(() => ({ rows: [{ id: null }] }))).rows[0].id as string | null;
    const [a, b] = [await cluster(src), await cluster(dst)];
    if (a !== null && a === b) this.#refuse(`${source.name} and ${target.name} are databases of one PostgreSQL server (their roles are one): move between servers`);
    await this.#sourceCatalog();
    if (!online) return;
    const publisher = await readReplicationRights(src);
    if (publisher.walLevel !== 'logical') this.#refuse(`wal_level is ${publisher.walLevel} on ${source.name}: set wal_level = logical there and restart it, or move with --offline`);
    if (!publisher.replication) this.#refuse(`the admin role ${publisher.admin} of ${source.name} lacks REPLICATION: as a superuser there, ALTER ROLE ${publisher.admin} REPLICATION; or move with --offline`);
    const subscriber = await readReplicationRights(dst);
    if (!subscriber.subscribe) this.#refuse(`the admin role ${subscriber.admin} of ${target.name} may not create subscriptions: ${subscriber.version >= 160000 ? `GRANT pg_create_subscription TO ${subscriber.admin} as a superuser there` : 'before PostgreSQL 16 only a superuser may'}; or move with --offline`);
    // The move's own slot and one for a table's initial copy; an interrupted move's are removed first.
    const slots = (await src.query('select current_setting(\'max_replication_slots\')::int - (select count(*) from pg_replication_slots where slot_name <> $1)::int as free', [this.name])).rows[0].free as number;
    if (slots < 2) this.#refuse(`${source.name} has ${slots} free replication slots, a move needs 2: raise max_replication_slots, or move with --offline`);
    const senders = (await src.query("select current_setting('max_wal_senders')::int - (select count(*) from pg_stat_replication)::int as free")).rows[0].free as number;
    if (senders < 2) this.#refuse(`${source.name} has ${senders} free WAL senders, a move needs 2: raise max_wal_senders, or move with --offline`);
    const workers = (await dst.query("select current_setting('max_logical_replication_workers')::int - (select count(*) from pg_stat_subscription where pid is not null)::int as free")).rows[0].free as number;
    if (workers < 2) this.#refuse(`${target.name} has ${workers} free logical replication workers, a move needs 2: raise max_logical_replication_workers, or move with --offline`);
    const unidentified = await src.query<{ name: string }>(`select c.relname as name from pg_class c where c.relnamespace = (select oid from pg_namespace where nspname = $1)
      and c.relkind = 'r' and c.relname <> all($2) and (c.relreplident = 'n' or (c.relreplident = 'd' and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)))
      order by 1`, [this.schema, [migrationTable, `${migrationTable}_lock`]]);
    if (unidentified.rowCount) this.#refuse(`table ${unidentified.rows.map((r) => r.name).join(', ')} has no primary key or replica identity, so its updates cannot be replicated: give it one (ALTER TABLE … REPLICA IDENTITY FULL), or move with --offline`);
    const objects = (await src.query('select count(*)::int as n from pg_largeobject_metadata where lomowner = (select oid from pg_roles where rolname = $1)', [this.role])).rows[0].n as number;
    if (objects > 0) this.#refuse(`its role owns ${objects} large objects, which logical replication does not carry: move with --offline`);
  }

  /**
   * The target made ready: what an interrupted move left removed, the tenant
   * provisioned, migrated to exactly the source's migrations, its structure
   * compared with the source's, and its tables emptied (rows a migration
   * seeded come with the copy).
   */
  async prepareTarget(): Promise<void> {
    const { target, site, verifier, folder } = this.#options;
    // What an interrupted move of this tenant left, on both ends.
    await this.#dropReplication(false);
    await this.#removeTargetObjects();
    const dst = await this.#target();
    const expected = await this.#sourceCatalog();
    const migrations = this.#migrations;
    await target.provisioner.provision(site, verifier);
    const sharedReaderRole = target.provisioner.sharedReaderRole;
    await migrateTarget({ adminUrl: target.adminUrl, client: dst, schema: this.schema, role: this.role, folder, sharedReaderRole }, migrations);
    await recordMigrations(dst, this.schema, migrations);
    await beginCopy(dst, { role: this.role, schema: this.schema });
    try {
      const drift = catalogDrift(expected, await readCatalog(dst, this.schema));
      if (drift) throw new errors.CopyDrift(this.schema, drift);
      const tables = expected.tables.map((t) => `${dst.escapeIdentifier(this.schema)}.${dst.escapeIdentifier(t.name)}`);
      if (tables.length > 0) await dst.query(`truncate table ${tables.join(', ')}`);
      await dst.query('commit');
    } catch (error) {
      await dst.query('rollback').catch(() => {});
      throw error;
    }
  }

  /** Online: publishes the tenant's tables on the source and subscribes the target to them (copy, then every change). */
  async startReplication(): Promise<void> {
    const src = await this.#source();
    const dst = await this.#target();
    const id = (name: string) => src.escapeIdentifier(name);
    const tables = (await this.#sourceCatalog()).tables.map((t) => `${id(this.schema)}.${id(t.name)}`);
    if (tables.length === 0) return;
    await this.#borrow(src);
    await this.#borrow(dst);
    await src.query(`create publication ${id(this.name)} for table ${tables.join(', ')}`);
    await dst.query(`create subscription ${id(this.name)} connection ${dst.escapeLiteral(conninfo(this.#options.source.adminUrl))} publication ${id(this.name)}
      with (copy_data = true, synchronous_commit = 'on', slot_name = ${dst.escapeLiteral(this.name)})`);
  }

  /** Resolves once every table is copied and the target is within cutoverLag of the source; throws on a replication error or after `timeout` ms. */
  async waitSynced(timeout: number, onProgress?: (ready: number, tables: number) => void, signal?: AbortSignal): Promise<void> {
    const src = await this.#source();
    const dst = await this.#target();
    const tables = (await this.#sourceCatalog()).tables.length;
    if (tables === 0) return;
    const deadline = Date.now() + timeout;
    for (;;) {
      const state = (await dst.query<{ ready: number; errors: number }>(`select
        (select count(*) from pg_subscription_rel r join pg_subscription s on s.oid = r.srsubid where s.subname = $1 and r.srsubstate = 'r')::int as ready,
        coalesce((select apply_error_count + sync_error_count from pg_stat_subscription_stats where subname = $1), 0)::int as errors`, [this.name])).rows[0]!;
      if (state.errors > 0) throw new Error(`the subscription on ${this.#options.target.name} reports ${state.errors} errors (its server's log says which)`);
      onProgress?.(state.ready, tables);
      if (state.ready === tables) {
        const lag = (await src.query('select (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint as lag from pg_replication_slots where slot_name = $1', [this.name])).rows[0]?.lag;
        if (lag !== undefined && Number(lag) <= cutoverLag) return;
      }
      if (signal?.aborted) throw new Error('aborted (tenants move --abort)');
      if (Date.now() > deadline) throw new Error(`the copy was not done within ${Math.round(timeout / 1000)} s (${state.ready} of ${tables} tables)`);
      await sleep(state.ready === tables ? poll : 100);
    }
  }

  /** The source role may no longer log in, and none of its sessions is left (a stale node's included). */
  async fence(): Promise<void> {
    const src = await this.#source();
    await this.#borrow(src);
    await src.query(`alter role ${src.escapeIdentifier(this.role)} nologin`);
    for (let i = 0; ; i++) {
      const left = (await src.query('select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where usename = $1', [this.role])).rows[0].n as number;
      if (left === 0) return;
      if (i > 1000) throw new Error(`${left} sessions of ${this.role} would not end`);
      await sleep(poll);
    }
  }

  /** Undoes fence(): the source serves again (an abort before the switch). */
  async unfence(): Promise<void> {
    const src = await this.#source();
    await src.query(`alter role ${src.escapeIdentifier(this.role)} login`);
  }

  /** Online, after the fence: resolves once the target has confirmed every change the source has. */
  async waitCaughtUp(timeout: number, signal?: AbortSignal): Promise<void> {
    const src = await this.#source();
    if ((await this.#sourceCatalog()).tables.length === 0) return;
    const lsn = (await src.query('select pg_current_wal_lsn() as lsn')).rows[0].lsn as string;
    const deadline = Date.now() + timeout;
    for (;;) {
      const row = (await src.query('select confirmed_flush_lsn >= $2::pg_lsn as done from pg_replication_slots where slot_name = $1', [this.name, lsn])).rows[0];
      if (row?.done) return;
      if (signal?.aborted) throw new Error('aborted (tenants move --abort)');
      if (Date.now() > deadline) throw new Error(`the target did not confirm the source's last changes within ${timeout} ms`);
      await sleep(poll);
    }
  }

  /** Sequences are not replicated: each one's value, from the source, set on the target. */
  async copySequences(): Promise<void> {
    const src = await this.#source();
    const dst = await this.#target();
    const catalog = await this.#sourceCatalog();
    if (catalog.sequences.length === 0) return;
    await beginCopy(src, { role: this.role, schema: this.schema });
    let values: { name: string; last_value: string | null; is_called: boolean }[];
    try {
      values = [];
      for (const name of catalog.sequences) {
        values.push((await src.query(`select $1::text as name, last_value::text, is_called from ${src.escapeIdentifier(this.schema)}.${src.escapeIdentifier(name)}`, [name])).rows[0]);
      }
    } finally {
      await src.query('rollback').catch(() => {});
    }
    await beginCopy(dst, { role: this.role, schema: this.schema });
    try {
      for (const v of values) await dst.query('select setval($1::regclass, $2::bigint, $3)', [`${dst.escapeIdentifier(this.schema)}.${dst.escapeIdentifier(v.name)}`, v.last_value, v.is_called]);
      await dst.query('commit');
    } catch (error) {
      await dst.query('rollback').catch(() => {});
      throw error;
    }
  }

  /** Offline: the tenant's rows copied by the copy engine in one snapshot, loaded and checked (counts, checksums) on the target. */
  async copyOffline(): Promise<number> {
    const archive = new MemoryArchive();
    const exported = await exportSchemas({ adminUrl: this.#options.source.adminUrl, schemas: [{ schema: this.schema, kind: 'tenant', role: this.role }], sink: archive, concurrency: 1 });
    const copy = exported.schemas[0]!;
    await importSchema({ client: await this.#target(), target: this.schema, role: this.role, copy, source: archive });
    return copy.tables.reduce((n, t) => n + t.rows, 0);
  }

  /** Each table's count and checksum on the source and the target, for a check (the tests, the benchmark). */
  async compare(): Promise<{ table: string; source: { rows: number; checksum: string }; target: { rows: number; checksum: string } }[]> {
    const out = [];
    const catalog = await this.#sourceCatalog();
    const src = await this.#source();
    const dst = await this.#target();
    await beginCopy(src, { role: this.role, schema: this.schema });
    await beginCopy(dst, { role: this.role, schema: this.schema });
    try {
      for (const t of catalog.tables) out.push({ table: t.name, source: await tableSum(src, this.schema, t.name), target: await tableSum(dst, this.schema, t.name) });
    } finally {
      await src.query('rollback').catch(() => {});
      await dst.query('rollback').catch(() => {});
    }
    return out;
  }

  /** After the switch: the subscription (its slot with it) and the publication go; the source copy stays, fenced. */
  async finish(): Promise<void> {
    await this.#dropReplication(true);
  }

  /**
   * Before the switch: everything the move made goes, on both ends (a source
   * that cannot be reached: the subscription is dropped without its slot,
   * which abort() run again, or status, then names), the source unfenced.
   */
  async abort(): Promise<void> {
    // The source serves again first, whatever else fails.
    let failure: unknown;
    await this.unfence().catch((error: unknown) => { failure ??= error; });
    await this.#dropReplication(false).catch((error: unknown) => { failure ??= error; });
    await this.#removeTargetObjects().catch((error: unknown) => { failure ??= error; });
    if (failure) throw failure;
  }

  /**
   * What a move of this tenant from the source to the target left, with no
   * move recorded (a move interrupted after it cleared its record): its
   * replication objects, and the target's copy unless `keepTarget` (the fenced
   * copy an earlier, finished move left there). The source is not touched.
   */
  async removeLeftovers(keepTarget: boolean): Promise<void> {
    await this.#dropReplication(false);
    if (!keepTarget) await this.#removeTargetObjects();
  }

  async #dropReplication(switched: boolean): Promise<void> {
    const dst = await this.#target();
    const id = (name: string) => dst.escapeIdentifier(name);
    const sub = await dst.query('select 1 from pg_subscription where subname = $1', [this.name]);
    if (sub.rowCount) {
      try {
        await dst.query(`drop subscription ${id(this.name)}`);
      } catch {
        // The source is away: the subscription goes without its slot.
        await dst.query(`alter subscription ${id(this.name)} disable`);
        await dst.query(`alter subscription ${id(this.name)} set (slot_name = none)`);
        await dst.query(`drop subscription ${id(this.name)}`);
      }
    }
    const src = await this.#source().catch(() => undefined);
    if (!src) {
      if (switched) return;
      throw new Error(`${this.#options.source.name} cannot be reached: its publication and slot ${this.name} stay until tenants move --abort runs again`);
    }
    await src.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active', [this.name]);
    await src.query(`drop publication if exists ${id(this.name)}`);
    await this.#giveBack(src);
    await this.#giveBack(dst);
  }

  /**
   * The tenant's privileges for the admin while it moves (ownership rights
   * for the publication and the initial copy, the tables' names for the
   * subscription, its sessions to end at the fence): PostgreSQL 16+ gives a
   * CREATEROLE admin SET on the roles it makes but not INHERIT; the move adds
   * INHERIT on both ends and takes it back when done. Before 16 the admin's
   * membership inherits already.
   */
  async #borrow(c: pg.Client): Promise<void> {
    if (await this.#modern(c)) await c.query(`grant ${c.escapeIdentifier(this.role)} to current_user with inherit true`);
  }

  async #giveBack(c: pg.Client): Promise<void> {
    if (!(await this.#modern(c))) return;
    const held = await c.query("select 1 from pg_auth_members m where m.roleid = (select oid from pg_roles where rolname = $1) and m.member = (select oid from pg_roles where rolname = current_user) and m.inherit_option and m.grantor = m.member", [this.role]);
    if (held.rowCount) await c.query(`revoke inherit option for ${c.escapeIdentifier(this.role)} from current_user`);
  }

  async #modern(c: pg.Client): Promise<boolean> {
    return Number((await c.query('show server_version_num')).rows[0].server_version_num) >= 160000;
  }

  /** A half-made target (the registry of the target has it, the tenant does not live there) is dropped, schema and role. */
  async #removeTargetObjects(): Promise<void> {
    const { target } = this.#options;
    const known = (await target.provisioner.registry()).some((r) => r.schema === this.schema);
    if (known) await target.provisioner.drop(this.schema, []);
  }

  async close(): Promise<void> {
    await this.#src?.end().catch(() => {});
    await this.#dst?.end().catch(() => {});
    this.#src = undefined;
    this.#dst = undefined;
  }
}
