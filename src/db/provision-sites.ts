// Brings the database in step with a set of sites: registry and shared
// migrations first, then every site's role and schema (many per round trip,
// provisioner.ts) and each tenant's migrations (bounded concurrency, each lane
// on one admin connection that takes the tenant's role and search_path in
// turn: no connection, and no password exchange, per tenant). One tenant's
// failure never hides the others.
//
// The registry remembers what was provisioned (a fingerprint, the password's
// included) and which tenant migrations were applied: a site with nothing to do
// costs no query of its own, so a run over a thousand provisioned tenants takes
// about a second, whichever command ran before (serve, migrate, another node).
// `force` (migrate --tenant) does every step regardless.
import type pg from 'pg';
import type { Site } from '../config/config.ts';
import { connectAdmin } from './admin-connection.ts';
import { mapBounded } from './map-bounded.ts';
import { migrateSchema, type SchemaMigrationResult } from './migration-runner.ts';
import type { Provisioner } from './provisioner.ts';
import { migrationNames } from './applied-migrations.ts';
import { recordMigrations } from './registry.ts';
import type { DatabaseServers } from './database-servers.ts';

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
  /** The SCRAM verifier of each site's role password, by schema (from the credentials secret). */
  verifiers: ReadonlyMap<string, string>;
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
  const expected = migrationNames(folders.tenant);
  const toProvision = options.sites.flatMap((site) => {
    const verifier = options.verifiers.get(site.schema);
    if (verifier === undefined) throw new Error(`no credentials for site ${site.schema}`);
    const recorded = registry.get(site.schema);
    // The public site is not in the registry: it is provisioned every time (one site).
    const current = recorded?.inConfig && provisioner.fingerprint(site, verifier).matches(recorded.provisioned);
    return options.force || !current ? [{ site, verifier }] : [];
  });
  const failures = toProvision.length > 0 ? await provisioner.provisionMany(toProvision) : new Map<string, Error>();
  const failed = new Map<string, SiteResult>();
  for (const [schema, error] of failures) {
    const result: SiteResult = { schema, ok: false, applied: [], stage: 'provision', error: error.message };
    failed.set(schema, result);
    options.onResult?.(result);
  }

  const lanes: (pg.Client | undefined)[] = [];
  const migrated = await mapBounded(options.sites.filter((s) => !failed.has(s.schema)), options.concurrency, async (site, lane): Promise<SiteResult> => {
    const applied = registry.get(site.schema)?.migrations;
    const upToDate = !options.force && applied != null && expected.every((name) => applied.includes(name));
    let result: SiteResult;
    if (site.schema === 'public' || upToDate) result = { schema: site.schema, ok: true, applied: [] };
    else {
      try {
        lanes[lane] ??= await connectAdmin(adminUrl);
        const client = lanes[lane];
        result = await migrateSchema({ adminUrl, client, schema: site.schema, role: provisioner.roleOf(site.schema), folder: folders.tenant, context: context(site.schema) });
        if (result.ok) await recordMigrations(client, site.schema, expected);
      } catch (error) {
        // The lane's connection is lost: the next tenant on it opens another.
        await lanes[lane]?.end().catch(() => {});
        lanes[lane] = undefined;
        result = { schema: site.schema, ok: false, applied: [], error: (error as Error).message };
      }
    }
    const reported = result.ok ? result : { ...result, stage: 'migrate' as const };
    options.onResult?.(reported);
    return reported;
  });
  await Promise.all(lanes.map((client) => client?.end().catch(() => {})));
  const bySchema = new Map(migrated.map((r) => [r.schema, r]));
  const sites = options.sites.map((s) => failed.get(s.schema) ?? bySchema.get(s.schema)!);
  return { shared, sites, ok: sites.every((r) => r.ok) };
}

export interface ProvisionServersOptions extends Omit<ProvisionSitesOptions, 'adminUrl' | 'provisioner'> {
  servers: DatabaseServers;
  /** The server of each site (DatabaseServers.assign). */
  placement: ReadonlyMap<string, string>;
}

export interface ProvisionServersResult {
  /** The shared migrations of each server. */
  shared: Map<string, SiteResult>;
  /** One per site, in the order given, with its server. */
  sites: (SiteResult & { server: string })[];
  ok: boolean;
}

/**
 * provisionSites on every server, each with the sites placed on it, at once:
 * shared migrations run on every server, whether it holds a tenant yet or not.
 * A server that cannot be reached fails its own sites only.
 */
export async function provisionOnServers(options: ProvisionServersOptions): Promise<ProvisionServersResult> {
  const { servers, placement, ...rest } = options;
  const shared = new Map<string, SiteResult>();
  const bySchema = new Map<string, SiteResult & { server: string }>();
  await Promise.all(servers.list.map(async (server) => {
    const sites = options.sites.filter((s) => (placement.get(s.schema) ?? 'default') === server.name);
    try {
      const result = await provisionSites({ ...rest, sites, adminUrl: server.database.adminUrl, provisioner: server.provisioner });
      shared.set(server.name, result.shared);
      for (const r of result.sites) bySchema.set(r.schema, { ...r, server: server.name });
    } catch (error) {
      const message = (error as Error).message;
      shared.set(server.name, { schema: 'public', ok: false, applied: [], stage: 'shared', error: message });
      for (const s of sites) {
        const r: SiteResult = { schema: s.schema, ok: false, applied: [], stage: 'provision', error: message };
        options.onResult?.(r);
        bySchema.set(s.schema, { ...r, server: server.name });
      }
    }
  }));
  const sites = options.sites.map((s) => bySchema.get(s.schema)!);
  return { shared, sites, ok: sites.every((r) => r.ok) && [...shared.values()].every((r) => r.ok) };
}
