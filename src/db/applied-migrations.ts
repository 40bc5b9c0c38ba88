// Whether a schema has every migration an application expects: a worker is
// not ready before its tables are (a request would meet "relation does not
// exist"). Read as the tenant role, which owns its migration table.
import { sql, type Kysely } from 'kysely';
import { migrationFilesIn, migrationName, migrationTable } from './migration-files.ts';

/** Migration names of a folder: file names without extension, as the runner records them. */
export function migrationNames(folder: string): string[] {
  return migrationFilesIn(folder).map(migrationName);
}

/** Names in `expected` that the pinned schema has not applied. */
export async function missingMigrations(db: Kysely<any>, expected: readonly string[]): Promise<string[]> {
  if (expected.length === 0) return [];
  const table = await sql<{ t: string | null }>`select to_regclass(${migrationTable}) as t`.execute(db);
  if (!table.rows[0]?.t) return [...expected];
  const rows = await sql<{ name: string }>`select name from ${sql.table(migrationTable)}`.execute(db);
  const applied = new Set(rows.rows.map((r) => r.name));
  return expected.filter((name) => !applied.has(name));
}
