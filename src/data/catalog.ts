// A schema's structure as the copy engine needs it: its tables (columns,
// constraints, indexes) and sequences, read from the catalog on a connection
// whose search_path is that schema (so definitions name its objects
// unqualified and two schemas compare equal), and the order tables must be
// loaded in for their foreign keys. What the engine cannot carry is refused
// here, up front, with the reason.
import type pg from 'pg';
import { errors } from '../base/errors.ts';
import { ownTables } from './own-tables.ts';

export interface TableShape {
  name: string;
  /** Columns in order: name, type, not null, default; generated columns are computed, never copied. */
  columns: { name: string; type: string; notNull: boolean; default: string | null; generated: boolean }[];
  /** Constraints, by name: their definition. */
  constraints: Record<string, string>;
  /** Indexes, by name: their definition. */
  indexes: Record<string, string>;
  /** Columns of the primary key, in order (the export orders rows by it); empty when there is none. */
  primaryKey: string[];
}

export interface Catalog {
  /** Tables in the order they load (a table after those its foreign keys name). */
  tables: TableShape[];
  /** Sequences of the schema, by name. */
  sequences: string[];
}

/**
 * Reads the catalog of `schema`. `c` is in a transaction with `search_path`
 * set to `schema` (see copySession). Throws TENANTD_COPY_REFUSED for what
 * cannot be carried: an unlogged or partitioned table, a cycle of foreign keys.
 */
export async function readCatalog(c: pg.ClientBase, schema: string): Promise<Catalog> {
  const tables = await c.query<{ oid: number; name: string; kind: string; persistence: string }>(
    `select c.oid, c.relname as name, c.relkind as kind, c.relpersistence as persistence from pg_class c
      where c.relnamespace = (select oid from pg_namespace where nspname = $1) and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`, [schema]);
  const shapes = new Map<number, TableShape>();
  for (const t of tables.rows) {
    if (ownTables.has(t.name)) continue;
    if (t.persistence === 'u') throw new errors.CopyRefused(`${schema}.${t.name} is unlogged: its rows are not kept by the server's log, so no consistent copy exists`);
    if (t.kind === 'p') throw new errors.CopyRefused(`${schema}.${t.name} is partitioned: copy its partitions' data by hand`);
    shapes.set(t.oid, { name: t.name, columns: [], constraints: {}, indexes: {}, primaryKey: [] });
  }
  const oids = [...shapes.keys()];
  if (oids.length > 0) {
    const columns = await c.query<{ table: number; name: string; type: string; not_null: boolean; default: string | null; generated: boolean }>(
      `select a.attrelid as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
          pg_get_expr(d.adbin, d.adrelid) as default, a.attgenerated <> '' as generated
        from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = any($1) and a.attnum > 0 and not a.attisdropped order by a.attrelid, a.attnum`, [oids]);
    for (const col of columns.rows) shapes.get(col.table)!.columns.push({ name: col.name, type: col.type, notNull: col.not_null, default: col.default, generated: col.generated });
    const constraints = await c.query<{ table: number; name: string; type: string; definition: string; keys: string[] | null }>(
      `select conrelid as table, conname as name, contype as type, pg_get_constraintdef(oid) as definition,
          case when contype = 'p' then (select array_agg(a.attname::text order by k.i) from unnest(conkey) with ordinality k(n, i)
            join pg_attribute a on a.attrelid = conrelid and a.attnum = k.n) end as keys
        from pg_constraint where conrelid = any($1)`, [oids]);
    for (const con of constraints.rows) {
      const shape = shapes.get(con.table)!;
      shape.constraints[con.name] = con.definition;
      if (con.type === 'p') shape.primaryKey = con.keys ?? [];
    }
    // pg_get_indexdef names the table with its schema whatever search_path says: the schema is taken off, so two schemas compare.
    const indexes = await c.query<{ table: number; name: string; definition: string }>(
      `select i.indrelid as table, x.relname as name, replace(pg_get_indexdef(i.indexrelid), ' ON ' || quote_ident($2) || '.', ' ON ') as definition
        from pg_index i join pg_class x on x.oid = i.indexrelid where i.indrelid = any($1)`, [oids, schema]);
    for (const index of indexes.rows) shapes.get(index.table)!.indexes[index.name] = index.definition;
  }
  const sequences = await c.query<{ name: string }>(
    "select relname as name from pg_class where relnamespace = (select oid from pg_namespace where nspname = $1) and relkind = 'S' order by 1", [schema]);
  return { tables: loadOrder(schema, shapes, await foreignKeys(c, oids)), sequences: sequences.rows.map((r) => r.name) };
}

async function foreignKeys(c: pg.ClientBase, oids: number[]): Promise<{ from: number; to: number }[]> {
  if (oids.length === 0) return [];
  const keys = await c.query<{ from: number; to: number }>("select conrelid as from, confrelid as to from pg_constraint where contype = 'f' and conrelid = any($1)", [oids]);
  return keys.rows;
}

/** Tables ordered so that each follows the tables its foreign keys name (a table naming itself loads in key order). */
function loadOrder(schema: string, shapes: Map<number, TableShape>, keys: { from: number; to: number }[]): TableShape[] {
  const needs = new Map<number, Set<number>>([...shapes.keys()].map((oid) => [oid, new Set()]));
  for (const { from, to } of keys) if (from !== to && shapes.has(to)) needs.get(from)?.add(to);
  const ordered: TableShape[] = [];
  const done = new Set<number>();
  while (done.size < shapes.size) {
    const ready = [...needs].filter(([oid, deps]) => !done.has(oid) && [...deps].every((d) => done.has(d))).map(([oid]) => oid);
    if (ready.length === 0) {
      const cycle = [...needs.keys()].filter((oid) => !done.has(oid)).map((oid) => shapes.get(oid)!.name);
      throw new errors.CopyRefused(`the foreign keys of ${schema} form a cycle (${cycle.join(', ')}): no order loads them`);
    }
    for (const oid of ready) {
      done.add(oid);
      ordered.push(shapes.get(oid)!);
    }
  }
  return ordered;
}

/** The first difference between two catalogs, as one line, or undefined when they match. */
export function catalogDrift(expected: Catalog, actual: Catalog): string | undefined {
  const names = (c: Catalog) => c.tables.map((t) => t.name).sort();
  const missing = names(expected).filter((n) => !names(actual).includes(n));
  if (missing.length > 0) return `table ${missing[0]} is missing`;
  const extra = names(actual).filter((n) => !names(expected).includes(n));
  if (extra.length > 0) return `table ${extra[0]} is not in the source`;
  for (const want of expected.tables) {
    const got = actual.tables.find((t) => t.name === want.name)!;
    const cols = (t: TableShape) => t.columns.map((col) => `${col.name} ${col.type}${col.notNull ? ' not null' : ''}${col.default === null ? '' : ` default ${col.default}`}${col.generated ? ' generated' : ''}`);
    const [a, b] = [cols(want), cols(got)];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] !== b[i]) return `${want.name}: column ${i + 1} is "${b[i] ?? 'missing'}", the source's "${a[i] ?? 'missing'}"`;
    }
    for (const [kind, x, y] of [['constraint', want.constraints, got.constraints], ['index', want.indexes, got.indexes]] as const) {
      for (const name of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (x[name] !== y[name]) return `${want.name}: ${kind} ${name} is ${y[name] === undefined ? 'missing' : `"${y[name]}"`}, the source's ${x[name] === undefined ? 'has none' : `"${x[name]}"`}`;
      }
    }
  }
  const missingSequence = expected.sequences.find((s) => !actual.sequences.includes(s));
  if (missingSequence) return `sequence ${missingSequence} is missing`;
  return undefined;
}
