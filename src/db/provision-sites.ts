// Brings the database in step with a set of sites: registry and shared
// migrations first, then per tenant its role and schema (one at a time) and its
// migrations (bounded concurrency). One tenant's failure never hides the others.
import type { TenantSpec } from '../config/config.ts';
import { mapBounded } from './map-bounded.ts';
import { migrateSchema, type SchemaMigrationResult } from './migration-runner.ts';
import type { Provisioner } from './provisioner.ts';

export interface SiteResult extends SchemaMigrationResult {
  /** Where it failed, if it did. */
  readonly stage?: 'provision' | 'migrate' | 'shared';
}

export interface ProvisionSitesOptions {
  adminUrl: string;
  provisioner: Provisioner;
  sites: readonly TenantSpec[];
  folders: { shared: string; tenant: string };
  concurrency: number;
  /** SCRAM verifiers of the login passwords to set, by schema (serve); without one a role keeps its password. */
  verifiers?: ReadonlyMap<string, string>;
  /** Called as each site finishes. */
  onResult?: (result: SiteResult) => void;
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

  const provisioned: TenantSpec[] = [];
  const failed = new Map<string, SiteResult>();
  for (const site of options.sites) {
    try {
      await provisioner.provision(site, options.verifiers?.get(site.schema));
      provisioned.push(site);
    } catch (error) {
      const result: SiteResult = { schema: site.schema, ok: false, applied: [], stage: 'provision', error: (error as Error).message };
      failed.set(site.schema, result);
      options.onResult?.(result);
    }
  }

  const migrated = await mapBounded(provisioned, options.concurrency, async (site): Promise<SiteResult> => {
    const result: SiteResult = site.schema === 'public'
      ? { schema: 'public', ok: true, applied: [] }
      : await migrateSchema({ adminUrl, schema: site.schema, role: provisioner.roleOf(site.schema), folder: folders.tenant, context: context(site.schema) });
    const reported = result.ok ? result : { ...result, stage: 'migrate' as const };
    options.onResult?.(reported);
    return reported;
  });
  const bySchema = new Map(migrated.map((r) => [r.schema, r]));
  const sites = options.sites.map((s) => failed.get(s.schema) ?? bySchema.get(s.schema)!);
  return { shared, sites, ok: sites.every((r) => r.ok) };
}
