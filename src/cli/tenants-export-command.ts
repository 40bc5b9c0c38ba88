// tenantd tenants export <schema> <file>: one tenant in a file of the backup's
// format (a backup with that one schema), read in a snapshot while it serves.
import path from 'node:path';
import { errors } from '../base/errors.ts';
import { backupDatabase } from '../data/backup-database.ts';
import { tenantdVersion } from './backup-command.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';
import { withDatabase } from './with-database.ts';

export const tenantsExportCommand: Command = {
  summary: 'write one tenant\'s data to a file (the backup format), while it serves',
  usage: '[-c FILE] <schema> <file>',
  options: {},
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 2) throw new errors.Usage('tenants export takes a schema and a file');
    const [schema, file] = positionals as [string, string];
    const manifest = await withDatabase(config, (database, provisioner) => backupDatabase({
      adminUrl: database.adminUrl, provisioner, file: path.resolve(file), tenants: [schema], concurrency: 1, version: tenantdVersion(),
    }), { tenant: schema });
    const rows = manifest.schemas[0]!.tables.reduce((n, t) => n + t.rows, 0);
    process.stdout.write(`wrote ${file}: ${schema}, ${rows} rows, as of ${manifest.snapshot}\n`);
    return 0;
  },
};
