// Writes one schema's copy into a target schema that its migrations have
// brought to exactly the source's list: in one transaction, as the target's
// role, it compares the target's catalog with the source's (any drift aborts,
// naming it), empties the tables (rows the migrations seeded are in the copy
// if they were in the source), loads each table in foreign-key order, sets the
// sequences to the source's values, and checks every table's count and
// checksum before it commits. A failure anywhere rolls it all back.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import type { SectionSource } from './backup-file.ts';
import { catalogDrift, readCatalog } from './catalog.ts';
import { copyIn } from './copy-stream.ts';
import { beginCopy, tableSum } from './copy-session.ts';
import type { SchemaCopy } from './manifest.ts';

export interface ImportOptions {
  /** An admin connection, not in a transaction. */
  client: pg.ClientBase;
  /** The schema written (a copy may go to another name: a clone, a side schema). */
  target: string;
  /** The role that owns the target's tables; undefined: the admin (public). */
  role: string | undefined;
  copy: SchemaCopy;
  source: SectionSource;
}

export async function importSchema(options: ImportOptions): Promise<void> {
  const { client: c, target, copy } = options;
  const id = (name: string) => c.escapeIdentifier(name);
  await beginCopy(c, { role: options.role, schema: target });
  try {
    const drift = catalogDrift(copy.catalog, await readCatalog(c, target));
    if (drift) throw new errors.CopyDrift(target, drift);
    if (copy.tables.length > 0) await c.query(`truncate table ${copy.tables.map((t) => `${id(target)}.${id(t.name)}`).join(', ')}`);
    for (const table of copy.tables) {
      await copyIn(c, `copy ${id(target)}.${id(table.name)} (${table.columns.map(id).join(', ')}) from stdin`, options.source.open(table.section));
    }
    for (const sequence of copy.sequences) {
      await c.query('select setval($1::regclass, $2::bigint, $3)', [`${id(target)}.${id(sequence.name)}`, sequence.lastValue, sequence.isCalled]);
    }
    for (const table of copy.tables) {
      const got = await tableSum(c, target, table.name);
      if (got.rows !== table.rows || got.checksum !== table.checksum) {
        throw new errors.CopyMismatch(`${target}.${table.name} has ${got.rows} rows (checksum ${got.checksum}), the source ${table.rows} (checksum ${table.checksum})`);
      }
    }
    await c.query('commit');
  } catch (error) {
    await c.query('rollback').catch(() => {});
    throw error;
  }
}
