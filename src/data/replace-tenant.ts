// tenantd restore --tenant: a running tenant's data replaced by its copy in a
// backup, without stopping anything else. The copy is loaded into a side
// schema (`<schema>$restoring$<time>`, a name no tenant can have), checked,
// brought to the newest migrations, then swapped in by two renames in one
// transaction: the old schema becomes `<schema>$replaced$<time>` and is kept
// until `restore --cleanup` or `backup.keepReplaced` passes. Nothing before the
// swap touches the serving schema or any role: a run that is killed leaves a
// side schema that serves nothing, and the next run removes it first.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import { sideSchemaPattern } from '../base/schema-name.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { recordMigrations } from '../db/registry.ts';
import type { SectionSource } from './backup-file.ts';
import { checkMigrations, migrateTarget } from './copy-target.ts';
import { importSchema } from './import-schema.ts';
import type { SchemaCopy } from './manifest.ts';

export interface ReplaceOptions {
  adminUrl: string;
  provisioner: Provisioner;
  /** The tenant whose data is replaced. */
  schema: string;
  copy: SchemaCopy;
  source: SectionSource;
  folder: string;
  /** The time in the side schemas' names. */
  now?: Date;
}

/** `20261129T150405`: when a side schema was made. */
export function stampOf(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').slice(0, 15);
}

/** The schemas a replace leaves beside `schema` (or beside every tenant): `$restoring$` ones from killed runs, `$replaced$` old data. */
export async function sideSchemas(c: pg.ClientBase, schema?: string): Promise<{ name: string; owner: string; kind: 'restoring' | 'replaced'; at: Date }[]> {
  const found = await c.query<{ name: string; owner: string }>('select nspname as name, nspowner::regrole::text as owner from pg_namespace where nspname ~ $1', [sideSchemaPattern]);
  return found.rows.flatMap((row) => {
    const [base, kind, stamp] = row.name.split('$') as [string, 'restoring' | 'replaced', string];
    if (schema !== undefined && base !== schema) return [];
    const at = new Date(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`);
    return [{ name: row.name, owner: row.owner.replace(/^"|"$/g, ''), kind, at }];
  });
}

/** Drops a side schema as its owner (the admin may become a tenant's role, not act as it). */
export async function dropSideSchema(c: pg.ClientBase, side: { name: string; owner: string }): Promise<void> {
  await c.query(`begin; set local role ${c.escapeIdentifier(side.owner)}; drop schema ${c.escapeIdentifier(side.name)} cascade; commit`);
}

export async function replaceTenant(options: ReplaceOptions): Promise<{ replaced: string }> {
  const { provisioner, schema } = options;
  checkMigrations(options.copy, options.folder);
  const registry = (await provisioner.registry()).find((r) => r.schema === schema);
  if (!registry) throw new errors.TenantUnknown(schema);
  const role = registry.role;
  const stamp = stampOf(options.now ?? new Date());
  const side = `${schema}$restoring$${stamp}`;
  const replaced = `${schema}$replaced$${stamp}`;
  const c = await connectAdmin(options.adminUrl);
  try {
    for (const stale of await sideSchemas(c, schema)) if (stale.kind === 'restoring') await dropSideSchema(c, stale);
    await c.query(`create schema ${c.escapeIdentifier(side)} authorization ${c.escapeIdentifier(role)}`);
    const target = { adminUrl: options.adminUrl, client: c, schema: side, role, folder: options.folder, sharedReaderRole: provisioner.sharedReaderRole };
    await migrateTarget(target, options.copy.migrations);
    await importSchema({ client: c, target: side, role, copy: options.copy, source: options.source });
    await migrateTarget(target, undefined);
    // The swap: renaming a schema takes its owner and CREATE on the database;
    // the tenant's role holds CREATE for this one transaction only.
    const id = (name: string) => c.escapeIdentifier(name);
    const db = id(provisioner.database);
    await c.query([
      'begin',
      `grant create on database ${db} to ${id(role)}`,
      `set local role ${id(role)}`,
      `alter schema ${id(schema)} rename to ${id(replaced)}`,
      `alter schema ${id(side)} rename to ${id(schema)}`,
      'reset role',
      `revoke create on database ${db} from ${id(role)}`,
      'commit',
    ].join(';\n')).catch(async (error: unknown) => {
      await c.query('rollback').catch(() => {});
      throw error;
    });
    await recordMigrations(c, schema, migrationNames(options.folder));
    return { replaced };
  } catch (error) {
    // Before the swap, the side schema is all that was made: it goes.
    const left = (await sideSchemas(c, schema).catch(() => [])).find((s) => s.name === side);
    if (left) await dropSideSchema(c, left).catch(() => {});
    throw error;
  } finally {
    await c.end().catch(() => {});
  }
}
