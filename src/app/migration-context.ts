// The contract between tenantd and a migration file: named exports `up` (and
// optionally `down`), each called with a Kysely instance for the schema being
// migrated and this context.
import type { Kysely } from 'kysely';

/** The second argument a migration's `up` and `down` receive. */
export interface MigrationContext {
  /** The schema being migrated (`public` for shared migrations). */
  readonly schema: string;
  /** Grant SELECT to this role to let every tenant read a shared table. */
  readonly sharedReaderRole: string;
}

/** What a migration file exports. */
export interface MigrationModule {
  up(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
  down?(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
}
