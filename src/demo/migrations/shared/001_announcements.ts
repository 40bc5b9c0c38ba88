// Shared table: written by operators, read by every tenant.
import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../../../index.ts';

export async function up(db: Kysely<any>, ctx: MigrationContext): Promise<void> {
  await db.schema.createTable('announcements')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`grant select on announcements to ${sql.id(ctx.sharedReaderRole)}`.execute(db);
  await db.insertInto('announcements').values({ text: 'Welcome to tenantd: your tasks are yours alone; this note is for everyone.' }).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('announcements').execute();
}
