// Runs one migration set in one schema with kysely's Migrator: the migration
// table lives in that schema, tenant migrations run as the tenant role (so the
// tenant owns what they create), and the lock is per schema so that many
// tenants migrate in parallel (kysely's own lock is one for the whole database).
// The Migrator asks the introspector whether its tables exist; kysely's lists
// every table and column of the database each time, which over ten thousand
// tenant schemas is quadratic: here it lists the one schema's tables. Many
// schemas can share connections (provision-sites.ts): each run sets the role
// and search_path on the connection it is given, and resets them after.
import { statSync } from 'node:fs';
import { bundle } from '../build/bundle.ts';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, sql, type DatabaseIntrospector, type Migration, type MigrationProvider, type SchemaMetadata, type TableMetadata } from 'kysely';
import pg from 'pg';
import { errors } from '../base/errors.ts';
import { isSideSchemaName, isSiteSchemaName } from '../base/schema-name.ts';
import { pinnedOptions } from './tenant-credentials.ts';
import { migrationFilesIn, migrationName, migrationTable } from './migration-files.ts';
import { sqlStateOf } from './sql-state.ts';
import type { MigrationContext, MigrationModule } from '../app/migration-context.ts';

export { migrationTable };

export interface SchemaMigrationResult {
  readonly schema: string;
  readonly ok: boolean;
  /** Names of the migrations applied by this run. */
  readonly applied: readonly string[];
  /** The failed migration's name, if one failed. */
  readonly failedMigration?: string;
  readonly error?: string;
}

export interface SchemaMigrationOptions {
  adminUrl: string;
  schema: string;
  /** Run as this role (SET at connect); default: the admin role. */
  role?: string | undefined;
  folder: string;
  context: MigrationContext;
  /** An admin connection to run on (shared by many schemas, one at a time); default: a connection of its own. */
  client?: pg.ClientBase | undefined;
  /** Apply up to and including this migration only (a copy's target matches its source); default: every one. */
  upTo?: string | undefined;
}


const loaded = new Map<string, Promise<[string, MigrationModule][]>>();

/** A migration module: TypeScript compiled first (no loader needed), JavaScript as it is. */
async function importMigration(file: string): Promise<MigrationModule> {
  const runnable = /\.m?ts$/.test(file) ? await bundle(file, 'migration') : file;
  return await import(pathToFileURL(runnable).href) as MigrationModule;
}

/**
 * The migration files of a folder, sorted by name; a missing folder has none.
 * Loaded once per state of the folder (names, sizes, times): a file added or
 * changed before a reload is seen, a thousand tenants share one load.
 */
function loadFolder(folder: string): Promise<[string, MigrationModule][]> {
  const names = migrationFilesIn(folder);
  const key = JSON.stringify([folder, names.map((n) => {
    const stat = statSync(path.join(folder, n));
    return [n, stat.size, stat.mtimeMs];
  })]);
  let modules = loaded.get(key);
  if (!modules) {
    modules = Promise.all(names.map(async (n) => [migrationName(n), await importMigration(path.join(folder, n))] as [string, MigrationModule]));
    loaded.set(key, modules);
  }
  return modules;
}

class ContextProvider implements MigrationProvider {
  readonly #folder: string;
  readonly #context: MigrationContext;
  constructor(folder: string, context: MigrationContext) {
    this.#folder = folder;
    this.#context = context;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const [name, mod] of await loadFolder(this.#folder)) {
      const down = mod.down;
      migrations[name] = {
        up: (db) => mod.up(db, this.#context),
        ...(down ? { down: (db: Kysely<any>) => down(db, this.#context) } : {}),
      };
    }
    return migrations;
  }
}

/** Kysely's adapter with the migration lock keyed by schema. */
class SchemaLockAdapter extends PostgresAdapter {
  readonly #schema: string;
  constructor(schema: string) {
    super();
    this.#schema = schema;
  }
  override async acquireMigrationLock(db: Kysely<any>): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext('tenantd.migrate'), hashtext(${this.#schema}))`.execute(db);
  }
  override async releaseMigrationLock(): Promise<void> {
    // The transaction-scoped lock ends with the migration transaction.
  }
}

/**
 * What the Migrator asks of the database: whether the one schema and its two
 * tables exist, not every table of every tenant. Looked up by name (an index
 * of pg_class): a query for all of a schema's tables reads the whole catalog
 * (pg_class has no index by schema alone), which grows with the tenants.
 */
class SchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<any>;
  readonly #schema: string;
  readonly #tables: readonly string[];
  constructor(db: Kysely<any>, schema: string, tables: readonly string[]) {
    this.#db = db;
    this.#schema = schema;
    this.#tables = tables;
  }
  async getSchemas(): Promise<SchemaMetadata[]> {
    const found = await sql<{ name: string }>`select nspname as name from pg_namespace where nspname = ${this.#schema}`.execute(this.#db);
    return found.rows;
  }
  async getTables(): Promise<TableMetadata[]> {
    const found = await sql<{ name: string; view: boolean }>`select c.relname as name, c.relkind = 'v' as view from pg_class c
      where c.relname = any(${[...this.#tables]}::text[]) and c.relnamespace = (select oid from pg_namespace where nspname = ${this.#schema})`.execute(this.#db);
    return found.rows.map((row) => ({ name: row.name, schema: this.#schema, isView: row.view, columns: [] }));
  }
  async getMetadata(): Promise<{ tables: TableMetadata[] }> {
    return { tables: await this.getTables() };
  }
}

/** What kysely's PostgresDialect needs of a pool. */
interface DialectPool {
  connect(): Promise<{ query: pg.ClientBase['query']; release(): void }>;
  end(): Promise<void>;
}

class SchemaDialect extends PostgresDialect {
  readonly #schema: string;
  constructor(schema: string, pool: DialectPool) {
    super({ pool: pool as unknown as pg.Pool });
    this.#schema = schema;
  }
  override createAdapter() {
    return new SchemaLockAdapter(this.#schema);
  }
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SchemaIntrospector(db, this.#schema, [migrationTable, `${migrationTable}_lock`]);
  }
}

/** A Kysely for one schema: on the given connection (role and search_path set), or on one of its own. */
async function openSchema(options: SchemaMigrationOptions): Promise<{ db: Kysely<any>; done: () => Promise<void> }> {
  const { client } = options;
  if (client === undefined) {
    const pool = new pg.Pool({
      connectionString: options.adminUrl,
      options: pinnedOptions(options.schema, options.role ? { role: options.role } : {}),
      max: 1,
    });
    const db = new Kysely<any>({ dialect: new SchemaDialect(options.schema, pool) });
    return { db, done: () => db.destroy() };
  }
  if (!isSiteSchemaName(options.schema) && !isSideSchemaName(options.schema)) throw new errors.SchemaName(options.schema);
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  await client.query(`set search_path to ${quote(options.schema)}; ${options.role ? `set role ${quote(options.role)}` : 'reset role'}`);
  const shared: DialectPool = {
    connect: async () => ({ query: client.query.bind(client) as pg.ClientBase['query'], release: () => {} }),
    end: async () => {},
  };
  const db = new Kysely<any>({ dialect: new SchemaDialect(options.schema, shared) });
  return {
    db,
    // A failed migration may leave its transaction open: end it, then the connection is the admin's again.
    done: async () => {
      await client.query('rollback; reset role; reset search_path').catch(() => {});
    },
  };
}

function migrator(db: Kysely<any>, options: SchemaMigrationOptions): Migrator {
  return new Migrator({
    db,
    provider: new ContextProvider(options.folder, options.context),
    migrationTableSchema: options.schema,
    migrationTableName: migrationTable,
    migrationLockTableName: `${migrationTable}_lock`,
  });
}

/** Applies the pending migrations of one schema; never throws. */
export async function migrateSchema(options: SchemaMigrationOptions): Promise<SchemaMigrationResult> {
  let opened: { db: Kysely<any>; done: () => Promise<void> };
  try {
    opened = await openSchema(options);
  } catch (error) {
    return { schema: options.schema, ok: false, applied: [], error: messageOf(error) };
  }
  const { db } = opened;
  try {
    const m = migrator(db, options);
    const { error, results = [] } = options.upTo === undefined ? await m.migrateToLatest() : await m.migrateTo(options.upTo);
    const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
    const failed = results.find((r) => r.status === 'Error');
    if (error) {
      return { schema: options.schema, ok: false, applied: [], ...(failed ? { failedMigration: failed.migrationName } : {}), error: messageOf(error) };
    }
    return { schema: options.schema, ok: true, applied };
  } catch (error) {
    return { schema: options.schema, ok: false, applied: [], error: messageOf(error) };
  } finally {
    await opened.done();
  }
}

/** Names of the migrations not yet applied in one schema. */
export async function pendingMigrations(options: SchemaMigrationOptions): Promise<string[]> {
  const { db, done } = await openSchema(options);
  try {
    const all = await migrator(db, options).getMigrations();
    return all.filter((m) => !m.executedAt).map((m) => m.name);
  } finally {
    await done();
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = sqlStateOf(error);
    return code ? `${error.message} (SQLSTATE ${code})` : error.message;
  }
  return String(error);
}
