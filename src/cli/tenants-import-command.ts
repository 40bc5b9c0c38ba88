// tenantd tenants import <schema> <file>: a tenant of the config made from an
// export (or from its copy in a backup): provisioned, its migrations brought to
// the copy's, the rows loaded and checked, then the newer migrations. The
// tenant must be unused (no rows); restore --tenant replaces a tenant's data.
import path from 'node:path';
import { errors } from '../base/errors.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { BackupReader } from '../data/backup-file.ts';
import { importTenant } from '../data/import-tenant.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';
import { withDatabase } from './with-database.ts';

export const tenantsImportCommand: Command = {
  summary: 'make a tenant of the config (unused so far) from an export or a backup',
  usage: '[-c FILE] <schema> <file>',
  options: {},
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 2) throw new errors.Usage('tenants import takes a schema and a file');
    const [schema, file] = positionals as [string, string];
    const site = config.tenants.find((t) => t.schema === schema);
    if (!site) throw new errors.Usage(`${schema} is not a tenant in the config: add it, then import`);
    const reader = await BackupReader.open(path.resolve(file));
    const tenants = reader.manifest.schemas.filter((s) => s.kind === 'tenant');
    // The tenant of that name, or the one tenant of an export (imported under another name).
    const copy = tenants.find((s) => s.schema === schema) ?? (tenants.length === 1 ? tenants[0] : undefined);
    if (!copy) throw new errors.Usage(`${file} holds ${tenants.length} tenants and none is ${schema}`);
    await reader.verify();
    await withDatabase(config, (database, provisioner) => {
      const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), provisioner);
      return importTenant({ adminUrl: database.adminUrl, provisioner, site, verifier: credentials.verifier(site), copy, source: reader, folder: config.migrations.tenant });
    });
    const rows = copy.tables.reduce((n, t) => n + t.rows, 0);
    process.stdout.write(`imported ${copy.schema} of ${file} as ${schema}: ${rows} rows, as of ${reader.manifest.snapshot}\n`);
    return 0;
  },
};
