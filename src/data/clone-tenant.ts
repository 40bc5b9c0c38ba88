// tenantd tenants clone: a new tenant made from another (a template) with its
// data, through the copy engine with no file: the template read in a snapshot
// into memory, then imported as the new tenant (import-tenant.ts). The new
// tenant's role owns its copy; the template's role has no privilege on it.
import { errors } from '../base/errors.ts';
import type { Site } from '../config/config.ts';
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
