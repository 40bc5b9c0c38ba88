// tenantd restore (a whole backup): into an empty database, everything the
// backup holds: public's shared tables, then every tenant (its role and schema
// provisioned as any tenant's, its migrations brought to the backup's, its
// rows loaded and checked, then the newer migrations), and the registry as it
// was. The file is checked whole first. A run that stops part-way leaves a
// marker (public.tenantd_restoring, with the backup's snapshot): a run of the
// same backup goes on where it stopped (a tenant already done is skipped, one
// half done is loaded again); any other non-empty database is refused.
import type pg from 'pg';
import type { Site } from '../config/config.ts';
import { errors } from '../base/errors.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import { mapBounded } from '../db/map-bounded.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { recordMigrations, recordPresence } from '../db/registry.ts';
import type { BackupReader } from './backup-file.ts';
import { checkMigrations, migrateTarget } from './copy-target.ts';
import { importSchema } from './import-schema.ts';
import type { SchemaCopy } from './manifest.ts';
import { restoreMarkerTable as marker } from './own-tables.ts';


export interface RestoreOptions {
  adminUrl: string;
  provisioner: Provisioner;
  reader: BackupReader;
  folders: { shared: string; tenant: string };
  /** The SCRAM verifier of a site's role (from the credentials secret). */
  verifier: (site: Site) => string;
  concurrency: number;
  onSchema?: (copy: SchemaCopy) => void;
}

/** The config entry a restored tenant is provisioned from: what its registry entry held. */
function siteOf(copy: SchemaCopy): Site {
  const site = copy.site!;
  return { schema: copy.schema, name: site.name, hosts: site.hosts, settings: site.settings, allowTrace: false, min: 0, max: 1 };
}

export async function restoreDatabase(options: RestoreOptions): Promise<void> {
  const { provisioner, reader } = options;
  const { manifest } = reader;
  // Everything that can refuse, before anything changes.
  await reader.verify();
  for (const copy of manifest.schemas) checkMigrations(copy, copy.kind === 'shared' ? options.folders.shared : options.folders.tenant);
  const c = await connectAdmin(options.adminUrl);
  try {
    const resuming = await resumable(c, manifest.snapshot);
    if (!resuming) {
      await checkEmpty(c, provisioner, manifest.schemas.filter((s) => s.kind === 'tenant').map((s) => s.schema));
      await provisioner.prepare();
      await c.query(`create table public.${marker} (snapshot text not null)`);
      await c.query(`insert into public.${marker} values ($1)`, [manifest.snapshot]);
    }
    const shared = manifest.schemas.find((s) => s.kind === 'shared');
    if (shared) {
      const target = { adminUrl: options.adminUrl, client: c, schema: 'public', role: undefined, folder: options.folders.shared, sharedReaderRole: provisioner.sharedReaderRole };
      await migrateTarget(target, shared.migrations);
      await importSchema({ client: c, target: 'public', role: undefined, copy: shared, source: reader });
      await migrateTarget(target, undefined);
      options.onSchema?.(shared);
    }
    const tenants = manifest.schemas.filter((s) => s.kind === 'tenant');
    const registry = new Map((await provisioner.registry()).map((r) => [r.schema, r]));
    const latest = migrationNames(options.folders.tenant);
    // A tenant whose registry records its migrations was finished by an earlier run of this restore (they are recorded last).
    const pending = tenants.filter((s) => registry.get(s.schema)?.migrations == null);
    const failures = await provisioner.provisionMany(pending.map((copy) => ({ site: siteOf(copy), verifier: options.verifier(siteOf(copy)) })));
    if (failures.size > 0) {
      const [schema, error] = [...failures][0]!;
      throw new errors.CopyRefused(`${schema} could not be provisioned: ${error.message}`);
    }
    const lanes: (pg.Client | undefined)[] = [];
    try {
      await mapBounded(pending, options.concurrency, async (copy, lane) => {
        lanes[lane] ??= await connectAdmin(options.adminUrl);
        const client = lanes[lane];
        const role = provisioner.roleOf(copy.schema);
        const target = { adminUrl: options.adminUrl, client, schema: copy.schema, role, folder: options.folders.tenant, sharedReaderRole: provisioner.sharedReaderRole };
        await migrateTarget(target, copy.migrations);
        await importSchema({ client, target: copy.schema, role, copy, source: reader });
        await migrateTarget(target, undefined);
        await recordPresence(client, copy.schema, copy.site!.inConfig, copy.site!.removedAt);
        await recordMigrations(client, copy.schema, latest);
        options.onSchema?.(copy);
      });
    } finally {
      await Promise.all(lanes.map((l) => l?.end().catch(() => {})));
    }
    await c.query(`drop table public.${marker}`);
  } finally {
    await c.end().catch(() => {});
  }
}

/** True when an earlier run of a restore of this backup stopped part-way here. */
async function resumable(c: pg.ClientBase, snapshot: string): Promise<boolean> {
  if ((await c.query('select to_regclass($1) as t', [`public.${marker}`])).rows[0].t === null) return false;
  const row = (await c.query<{ snapshot: string }>(`select snapshot from public.${marker}`)).rows[0];
  if (row?.snapshot !== snapshot) throw new errors.DatabaseNotEmpty(`a restore of another backup (${row?.snapshot ?? 'unknown'}) stopped part-way here`);
  return true;
}

/** Throws TENANTD_DATABASE_NOT_EMPTY unless no tenant is registered and none of `schemas` exists. */
async function checkEmpty(c: pg.ClientBase, provisioner: Provisioner, schemas: string[]): Promise<void> {
  const registered = await provisioner.registry();
  if (registered.length > 0) throw new errors.DatabaseNotEmpty(`${registered.length} tenants are registered, ${registered[0]!.schema} the first`);
  const existing = await c.query<{ name: string }>('select nspname as name from pg_namespace where nspname = any($1) order by 1', [schemas]);
  if (existing.rowCount! > 0) throw new errors.DatabaseNotEmpty(`schema ${existing.rows[0]!.name} exists`);
}
