// COPY between a connection and a Node stream (pg-copy-streams, the maintained
// streaming COPY for node-postgres): rows leave and arrive in PostgreSQL's text
// format, without a row of them held in memory.
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/** The rows `statement` (COPY ... TO STDOUT) writes, as a stream. */
export function copyOut(c: pg.ClientBase, statement: string): Readable {
  return c.query(copyTo(statement));
}

/** Streams `rows` into `statement` (COPY ... FROM STDIN); resolves once the server has them all. */
export async function copyIn(c: pg.ClientBase, statement: string, rows: Readable): Promise<void> {
  await pipeline(rows, c.query(copyFrom(statement)));
}
