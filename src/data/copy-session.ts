// The transaction the copy engine reads or writes one schema in: as the
// schema's own role (a tenant's) or the admin (public's shared tables), with
// search_path the schema, and with the session settings that fix how values
// are written as text, so that COPY text and row checksums are the same on
// the source and the target whatever the servers' defaults.
import type pg from 'pg';

/** The settings every copy transaction runs with (SET LOCAL: they end with it). */
const textSettings = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 3',
  "set local bytea_output = 'hex'",
];

export interface CopyTransaction {
  /** Read only, in the snapshot another transaction exported (pg_export_snapshot). */
  snapshot?: string;
  /** The role to act as; undefined: the admin. */
  role?: string | undefined;
  schema: string;
}

const id = (c: pg.ClientBase, name: string) => c.escapeIdentifier(name);

/** Begins the transaction on `c`. */
export async function beginCopy(c: pg.ClientBase, t: CopyTransaction): Promise<void> {
  const statements = t.snapshot === undefined
    ? ['begin']
    // SET TRANSACTION SNAPSHOT must come first in the transaction.
    : ['begin isolation level repeatable read read only', `set transaction snapshot ${c.escapeLiteral(t.snapshot)}`];
  statements.push(t.role === undefined ? 'set local role none' : `set local role ${id(c, t.role)}`, `set local search_path = ${id(c, t.schema)}`, ...textSettings);
  await c.query(statements.join(';\n'));
}

/** Count and checksum of a table's rows (see TableCopy.checksum). */
export async function tableSum(c: pg.ClientBase, schema: string, table: string): Promise<{ rows: number; checksum: string }> {
  const result = await c.query<{ rows: string; checksum: string }>(
    `select count(*)::text as rows, coalesce(sum(hashtext(t::text)::bigint), 0)::text as checksum from ${id(c, schema)}.${id(c, table)} t`);
  return { rows: Number(result.rows[0]!.rows), checksum: result.rows[0]!.checksum };
}
