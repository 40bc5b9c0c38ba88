// tenantd backup: every registered tenant's schema, public's shared tables and
// the registry, in one snapshot (while the service goes on serving), to one
// file (backup-file.ts). One tenant's export is the same with one schema.
import { errors } from '../base/errors.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { BackupWriter } from './backup-file.ts';
import { exportSchemas, type SchemaToExport } from './export-schemas.ts';
import type { Manifest, SchemaCopy } from './manifest.ts';

export interface BackupOptions {
  adminUrl: string;
  provisioner: Provisioner;
  file: string;
  /** Only these tenants (an export), and not public; default: every tenant and public. */
  tenants?: readonly string[];
  concurrency: number;
  /** tenantd's version, for the manifest. */
  version: string;
  onSchema?: (copy: SchemaCopy) => void;
}

export async function backupDatabase(options: BackupOptions): Promise<Manifest> {
  const { provisioner } = options;
  const registry = await provisioner.registry();
  const wanted = options.tenants;
  const rows = wanted === undefined ? registry : registry.filter((r) => wanted.includes(r.schema));
  for (const schema of wanted ?? []) if (!rows.some((r) => r.schema === schema)) throw new errors.TenantUnknown(schema);
  const schemas: SchemaToExport[] = [
    ...(wanted === undefined ? [{ schema: 'public', kind: 'shared' as const, role: undefined }] : []),
    ...rows.map((r) => ({
      schema: r.schema, kind: 'tenant' as const, role: r.role,
      site: { name: r.name, hosts: r.hosts, settings: r.settings, inConfig: r.inConfig, removedAt: r.removedAt === null ? null : new Date(r.removedAt).toISOString() },
    })),
  ];
  const writer = await BackupWriter.create(options.file);
  try {
    const result = await exportSchemas({ adminUrl: options.adminUrl, schemas, sink: writer, concurrency: options.concurrency, onSchema: options.onSchema });
    const manifest: Manifest = { format: 1, tenantd: options.version, server: result.server, snapshot: result.snapshot, schemas: result.schemas };
    await writer.finish(manifest);
    return manifest;
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
