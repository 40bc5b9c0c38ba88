// Shared, in the public schema: run once, as the admin role. Every tenant may
// read it (sharedReaderRole); none may write it.
import { sql } from 'kysely';

/**
 * @param {import('kysely').Kysely<any>} db
 * @param {import('tenantd').MigrationContext} ctx
 */
export async function up(db, ctx) {
  await db.schema.createTable('categories')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .execute();
  await db.insertInto('categories').values([{ name: 'general' }, { name: 'ideas' }, { name: 'todo' }]).execute();
  await sql`grant select on categories to ${sql.id(ctx.sharedReaderRole)}`.execute(db);
}

/** @param {import('kysely').Kysely<any>} db */
export async function down(db) {
  await db.schema.dropTable('categories').execute();
}
