// tenantd tenants clone: a new tenant made from another (a template) with its
// data, through the copy engine with no file: the template read in a snapshot
// into memory, then imported as the new tenant (import-tenant.ts). The new
// tenant's role owns its copy; the template's role has no privilege on it.
import { stringify } from 'yaml';
import { errors } from '../base/errors.ts';
import { isTenantSchemaName } from '../base/schema-name.ts';
import { hostName } from '../config/config-schema.ts';
import type { Config, Site } from '../config/config.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { MemoryArchive } from './backup-file.ts';
import { exportSchemas } from './export-schemas.ts';
import { importTenant } from './import-tenant.ts';

export interface CloneOptions {
  adminUrl: string;
  provisioner: Provisioner;
  /** The template's schema. */
  from: string;
  /** The new tenant. */
  site: Site;
  verifier: string;
  folder: string;
}

/** The new tenant a clone makes, checked against the config: the template is a tenant, the new schema and hosts are free, a tenantsDir takes its file. */
export function cloneSite(config: Config, from: string, to: string, rawHosts: readonly string[], name: string | undefined): Site {
  if (!isTenantSchemaName(to)) throw new errors.SchemaName(to);
  if (!config.tenants.some((t) => t.schema === from)) throw new errors.Usage(`${from} is not a tenant in the config`);
  if (config.tenants.some((t) => t.schema === to)) throw new errors.Usage(`${to} is already a tenant in the config`);
  if (!config.tenantsDir) throw new errors.Usage('the config has no tenantsDir: clone writes the new tenant there');
  const hosts = rawHosts.map((raw) => {
    const parsed = hostName.safeParse(raw);
    if (!parsed.success) throw new errors.Usage(`--host ${raw}: ${parsed.error.issues[0]!.message}`);
    return parsed.data;
  });
  if (hosts.length === 0) throw new errors.Usage('tenants clone needs at least one --host');
  const taken = [...config.tenants, ...(config.public ? [config.public] : [])].find((t) => t.hosts.some((h) => hosts.includes(h)));
  if (taken) throw new errors.Usage(`a --host is already ${taken.schema}'s`);
  return { schema: to, name: name ?? to, hosts, settings: {}, allowTrace: false, min: config.workers.min, max: config.workers.max };
}

/** The new tenant's file in tenantsDir, as an operator would write it. */
export function cloneFile(site: Site): string {
  return stringify({ schema: site.schema, ...(site.name === site.schema ? {} : { name: site.name }), hosts: site.hosts });
}

export async function cloneTenant(options: CloneOptions): Promise<{ rows: number }> {
  const { provisioner } = options;
  // The registry names the template's role (the record of what tenantd made), as backup reads it.
  const template = (await provisioner.registry()).find((r) => r.schema === options.from);
  if (!template) throw new errors.TenantUnknown(options.from);
  const archive = new MemoryArchive();
  const exported = await exportSchemas({
    adminUrl: options.adminUrl,
    schemas: [{ schema: options.from, kind: 'tenant', role: template.role }],
    sink: archive,
    concurrency: 1,
  });
  const copy = exported.schemas[0]!;
  try {
    await importTenant({ adminUrl: options.adminUrl, provisioner, site: options.site, verifier: options.verifier, copy, source: archive, folder: options.folder });
  } catch (error) {
    // The new tenant is in no config yet: what was made of it goes, so that nothing is half-made.
    if (!(error instanceof errors.SchemaExists)) await provisioner.drop(options.site.schema, []).catch(() => {});
    throw error;
  }
  return { rows: copy.tables.reduce((n, t) => n + t.rows, 0) };
}
