// Reads schemas in one snapshot: one admin transaction exports it
// (pg_export_snapshot) and stays open; lanes of their own connections import
// it, one schema at a time, as the schema's role, and read its applied
// migrations, its catalog, and each table's count, checksum and rows (COPY,
// ordered by primary key) into a SectionSink. Every schema is as it was at the
// snapshot's instant, while the service goes on writing.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { mapBounded } from '../db/map-bounded.ts';
import { migrationTable } from '../db/migration-files.ts';
import type { SectionSink } from './backup-file.ts';
import { readCatalog } from './catalog.ts';
import { copyOut } from './copy-stream.ts';
import { beginCopy, tableSum } from './copy-session.ts';
import type { SchemaCopy, SiteEntry } from './manifest.ts';

export interface SchemaToExport {
  schema: string;
  kind: SchemaCopy['kind'];
  /** The role the schema is read as; undefined: the admin (public). */
  role: string | undefined;
  site?: SiteEntry;
}

export interface ExportOptions {
  adminUrl: string;
  schemas: readonly SchemaToExport[];
  sink: SectionSink;
  /** Schemas read at once. */
  concurrency: number;
  /** Called as each schema is read. */
  onSchema?: (copy: SchemaCopy) => void;
}

export interface ExportResult {
  /** When the snapshot was taken (ISO 8601). */
  snapshot: string;
  server: string;
  schemas: SchemaCopy[];
}

/** Reads `schemas` in one snapshot into `sink`. */
export async function exportSchemas(options: ExportOptions): Promise<ExportResult> {
  const main = await connectAdmin(options.adminUrl);
  const lanes: (pg.Client | undefined)[] = [];
  try {
    await main.query('begin isolation level repeatable read read only');
    const taken = await main.query<{ snapshot: string; at: Date; server: string; objects: boolean }>(
      "select pg_export_snapshot() as snapshot, now() as at, current_setting('server_version') as server, exists (select 1 from pg_largeobject_metadata) as objects");
    const { snapshot, at, server, objects } = taken.rows[0]!;
    if (objects) throw new errors.CopyRefused('the database holds large objects (pg_largeobject), which belong to no schema; move them into bytea columns first');
    const schemas = await mapBounded(options.schemas, options.concurrency, async (one, lane) => {
      lanes[lane] ??= await connectAdmin(options.adminUrl);
      const copy = await exportSchema(lanes[lane], snapshot, one, options.sink);
      options.onSchema?.(copy);
      return copy;
    });
    await main.query('commit');
    return { snapshot: at.toISOString(), server, schemas };
  } finally {
    await Promise.all([main, ...lanes].map((c) => c?.end().catch(() => {})));
  }
}

async function exportSchema(c: pg.Client, snapshot: string, one: SchemaToExport, sink: SectionSink): Promise<SchemaCopy> {
  await beginCopy(c, { snapshot, role: one.role, schema: one.schema });
  try {
    const hasMigrations = (await c.query('select to_regclass($1) as t', [`${c.escapeIdentifier(one.schema)}.${migrationTable}`])).rows[0].t !== null;
    const migrations = hasMigrations ? (await c.query<{ name: string }>(`select name from ${c.escapeIdentifier(one.schema)}.${migrationTable} order by name`)).rows.map((r) => r.name) : [];
    const catalog = await readCatalog(c, one.schema);
    const tables = [];
    for (const table of catalog.tables) {
      const columns = table.columns.filter((col) => !col.generated).map((col) => col.name);
      const sum = await tableSum(c, one.schema, table.name);
      const id = (name: string) => c.escapeIdentifier(name);
      // Ordered by primary key: a table whose rows reference each other loads parents first when keys grow.
      const select = `select ${columns.map(id).join(', ')} from ${id(one.schema)}.${id(table.name)}${table.primaryKey.length > 0 ? ` order by ${table.primaryKey.map(id).join(', ')}` : ''}`;
      const section = await sink.write(copyOut(c, `copy (${select}) to stdout`));
      tables.push({ name: table.name, columns, ...sum, section });
    }
    const sequences = [];
    for (const name of catalog.sequences) {
      const row = (await c.query<{ last_value: string; is_called: boolean }>(`select last_value::text, is_called from ${c.escapeIdentifier(one.schema)}.${c.escapeIdentifier(name)}`)).rows[0]!;
      sequences.push({ name, lastValue: row.last_value, isCalled: row.is_called });
    }
    await c.query('commit');
    return { schema: one.schema, kind: one.kind, migrations, catalog, tables, sequences, ...(one.site ? { site: one.site } : {}) };
  } catch (error) {
    await c.query('rollback').catch(() => {});
    throw error;
  }
}
