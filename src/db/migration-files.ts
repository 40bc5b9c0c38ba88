// Where a schema's migrations are recorded, and which files of a folder are
// migrations: one answer for the runner and for the worker's readiness check.
import { readdirSync } from 'node:fs';

/** Each schema's own table of applied migrations. */
export const migrationTable = 'tenantd_migration';

const migrationFile = /\.(ts|mts|js|mjs)$/;

/** Migration file names among `names`, sorted (the order they run in). */
function migrationFiles(names: readonly string[]): string[] {
  return names.filter((n) => migrationFile.test(n) && !n.endsWith('.d.ts')).sort();
}

/** The migration files in `folder`, sorted; a missing folder has none. */
export function migrationFilesIn(folder: string): string[] {
  try {
    return migrationFiles(readdirSync(folder));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The name a migration is recorded under: its file name without extension. */
export function migrationName(file: string): string {
  return file.replace(migrationFile, '');
}
