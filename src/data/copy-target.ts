// Where a schema's copy goes: a target schema that the application's own
// migrations bring to exactly the migrations the source had applied (so that
// its structure is the source's: import-schema.ts compares), then, once the
// rows are in, to the application's newest. A copy with a migration the
// application does not have is refused before anything is made.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import { migrateSchema } from '../db/migration-runner.ts';
import type { SchemaCopy } from './manifest.ts';

/** Throws TENANTD_BACKUP_MIGRATIONS unless `copy`'s migrations are the first of `folder`'s, in order. */
export function checkMigrations(copy: Pick<SchemaCopy, 'schema' | 'migrations'>, folder: string): void {
  const known = migrationNames(folder);
  const unknown = copy.migrations.filter((name, i) => known[i] !== name);
  if (unknown.length > 0) throw new errors.BackupMigrations(copy.schema, unknown.join(', '));
}

export interface MigrateTarget {
  adminUrl: string;
  client: pg.ClientBase;
  schema: string;
  /** The role migrations run as; undefined: the admin (public). */
  role: string | undefined;
  folder: string;
  sharedReaderRole: string;
}

/** Applies the target's migrations up to `upTo` (the copy's last), or all (`upTo` undefined). */
export async function migrateTarget(target: MigrateTarget, upTo: readonly string[] | undefined): Promise<string[]> {
  if (upTo !== undefined && upTo.length === 0) return [];
  const result = await migrateSchema({
    adminUrl: target.adminUrl,
    client: target.client,
    schema: target.schema,
    role: target.role,
    folder: target.folder,
    context: { schema: target.schema, sharedReaderRole: target.sharedReaderRole },
    upTo: upTo === undefined ? undefined : upTo[upTo.length - 1],
  });
  if (!result.ok) throw new errors.CopyRefused(`the migrations of ${target.schema} failed${result.failedMigration ? ` at ${result.failedMigration}` : ''}: ${result.error}`);
  return [...result.applied];
}
