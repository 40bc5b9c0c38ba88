// Brings the database in step with a set of sites: registry and shared
// migrations first, then per tenant its role and schema (one at a time) and its
// migrations (bounded concurrency). One tenant's failure never hides the others.
//
// The registry remembers what was provisioned (a fingerprint) and which tenant
// migrations were applied: a tenant with nothing to do costs no query of its
// own, so a no-op run over a thousand tenants takes about a second, not 40.
// `force` (migrate --tenant) does every step regardless.
import type { Site } from '../config/config.ts';
import { mapBounded } from './map-bounded.ts';
import { migrateSchema, type SchemaMigrationResult } from './migration-runner.ts';
import type { Provisioner } from './provisioner.ts';
import { migrationNames } from './applied-migrations.ts';

/** Whether what the registry recorded is what would be set now (`*`: any password). */
function sameFingerprint(recorded: string | null | undefined, wanted: string): boolean {
  if (!recorded) return false;
  const [settings, password] = wanted.split(':');
  const [was, wasPassword] = recorded.split(':');
  return settings === was && (password === '*' || password === wasPassword);
}

export interface SiteResult extends SchemaMigrationResult {
  /** Where it failed, if it did. */
  readonly stage?: 'provision' | 'migrate' | 'shared';
}

export interface ProvisionSitesOptions {
  adminUrl: string;
  provisioner: Provisioner;
  sites: readonly Site[];
  folders: { shared: string; tenant: string };
  concurrency: number;
  /** SCRAM verifiers of the login passwords to set, by schema (serve); without one a role keeps its password. */
  verifiers?: ReadonlyMap<string, string>;
  /** Called as each site finishes. */
  onResult?: (result: SiteResult) => void;
  /** Provision and migrate even where the registry says nothing changed. */
  force?: boolean;
}

export interface ProvisionSitesResult {
  /** The shared migrations in public. */
  shared: SiteResult;
  /** One per site, in the order given. */
  sites: SiteResult[];
  ok: boolean;
}

export async function provisionSites(options: ProvisionSitesOptions): Promise<ProvisionSitesResult> {
  const { provisioner, adminUrl, folders } = options;
  const context = (schema: string) => ({ schema, sharedReaderRole: provisioner.sharedReaderRole });
  await provisioner.prepare();

  const sharedResult = await migrateSchema({ adminUrl, schema: 'public', folder: folders.shared, context: context('public') });
  const shared: SiteResult = sharedResult.ok ? sharedResult : { ...sharedResult, stage: 'shared' };
  options.onResult?.(shared);
  if (!shared.ok) {
    const skipped = options.sites.map((s): SiteResult => ({ schema: s.schema, ok: false, applied: [], stage: 'shared', error: 'shared migrations failed' }));
    return { shared, sites: skipped, ok: false };
  }

  const registry = new Map((await provisioner.registry()).map((r) => [r.schema, r]));
  const sharedTables = await provisioner.sharedTables();
  const expected = migrationNames(folders.tenant);
  const provisioned: Site[] = [];
  const failed = new Map<string, SiteResult>();
  for (const site of options.sites) {
    try {
      const verifier = options.verifiers?.get(site.schema);
      const wanted = provisioner.fingerprint(site, sharedTables, verifier);
      const recorded = registry.get(site.schema)?.provisioned;
      if (options.force || !sameFingerprint(recorded, wanted) || !registry.get(site.schema)?.inConfig) {
        await provisioner.provision(site, verifier);
        // A run without a verifier (migrate) keeps the password part recorded by serve.
        if (site.schema !== 'public') await provisioner.recordProvisioned(site.schema, wanted.endsWith(':*') && recorded ? `${wanted.slice(0, -1)}${recorded.split(':')[1]}` : wanted);
      }
      provisioned.push(site);
    } catch (error) {
      const result: SiteResult = { schema: site.schema, ok: false, applied: [], stage: 'provision', error: (error as Error).message };
      failed.set(site.schema, result);
      options.onResult?.(result);
    }
  }

  const migrated = await mapBounded(provisioned, options.concurrency, async (site): Promise<SiteResult> => {
    const applied = registry.get(site.schema)?.migrations;
    const upToDate = !options.force && applied != null && expected.every((name) => applied.includes(name));
    let result: SiteResult;
    if (site.schema === 'public' || upToDate) result = { schema: site.schema, ok: true, applied: [] };
    else {
      result = await migrateSchema({ adminUrl, schema: site.schema, role: provisioner.roleOf(site.schema), folder: folders.tenant, context: context(site.schema) });
      if (result.ok) await provisioner.recordMigrations(site.schema, expected);
    }
    const reported = result.ok ? result : { ...result, stage: 'migrate' as const };
    options.onResult?.(reported);
    return reported;
  });
  const bySchema = new Map(migrated.map((r) => [r.schema, r]));
  const sites = options.sites.map((s) => failed.get(s.schema) ?? bySchema.get(s.schema)!);
  return { shared, sites, ok: sites.every((r) => r.ok) };
}
