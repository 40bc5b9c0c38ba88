// A tenant made from a copy (tenants import, tenants clone): its role and
// schema provisioned as any tenant's, the schema migrated to the copy's
// migrations, the rows loaded and checked, then the newer migrations run. The
// target must be unused: no schema of that name, or one with no rows (a
// provisioned tenant that never served); anything else is refused before a
// change. A failed load leaves the schema empty, so a second run may try again.
import type pg from 'pg';
import type { Site } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { recordMigrations } from '../db/registry.ts';
import type { SectionSource } from './backup-file.ts';
import { checkMigrations, migrateTarget } from './copy-target.ts';
import { importSchema } from './import-schema.ts';
import type { SchemaCopy } from './manifest.ts';

export interface ImportTenantOptions {
  adminUrl: string;
  provisioner: Provisioner;
  /** The tenant made: its config entry. */
  site: Site;
  /** Its role's SCRAM verifier (from the credentials secret). */
  verifier: string;
  copy: SchemaCopy;
  source: SectionSource;
  /** The application's tenant migrations. */
  folder: string;
}

/** Throws TENANTD_SCHEMA_EXISTS when `schema` exists and any of its tables has a row. */
export async function checkUnused(c: pg.ClientBase, schema: string): Promise<void> {
  const tables = await c.query<{ name: string }>("select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r' and c.relname not like 'tenantd\\_migration%'", [schema]);
  for (const { name } of tables.rows) {
    const rows = await c.query(`select exists (select 1 from ${c.escapeIdentifier(schema)}.${c.escapeIdentifier(name)}) as used`).catch(() => ({ rows: [{ used: true }] }));
    if (rows.rows[0]!.used) throw new errors.SchemaExists(schema);
  }
}

export async function importTenant(options: ImportTenantOptions): Promise<void> {
  const { provisioner, site } = options;
  checkMigrations(options.copy, options.folder);
  const role = provisioner.roleOf(site.schema);
  const c = await connectAdmin(options.adminUrl);
  try {
    // As the tenant's role (its tables are its own); a role that does not exist yet has no tables either.
    const exists = (await c.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
    if (exists) {
      await c.query(`set role ${c.escapeIdentifier(role)}`);
      try {
        await checkUnused(c, site.schema);
      } finally {
        await c.query('reset role');
      }
    } else if ((await c.query('select 1 from pg_namespace where nspname = $1', [site.schema])).rowCount === 1) {
      throw new errors.SchemaExists(site.schema);
    }
    await provisioner.provision(site, options.verifier);
    const target = { adminUrl: options.adminUrl, client: c, schema: site.schema, role, folder: options.folder, sharedReaderRole: provisioner.sharedReaderRole };
    await migrateTarget(target, options.copy.migrations);
    await importSchema({ client: c, target: site.schema, role, copy: options.copy, source: options.source });
    await migrateTarget(target, undefined);
    await recordMigrations(c, site.schema, migrationNames(options.folder));
  } finally {
    await c.end().catch(() => {});
  }
}
