// tenantd restore <file>: a whole backup into an empty database; with
// --tenant, those tenants' data replaced in a running service (each through a
// side schema, swapped in, its workers restarted); --cleanup removes the data
// that restores replaced (kept until then, or until backup.keepReplaced).
import path from 'node:path';
import { errors } from '../base/errors.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { BackupReader } from '../data/backup-file.ts';
import { replaceTenant, dropSideSchema, sideSchemas } from '../data/replace-tenant.ts';
import { restoreDatabase } from '../data/restore-database.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import { adminRequest } from './admin-client.ts';
import { concurrencyOf } from './backup-command.ts';
import type { Command } from './command.ts';
import { readAdminAddress, readConfig } from './command.ts';
import { progress } from './progress.ts';
import { withDatabase } from './with-database.ts';

export const restoreCommand: Command = {
  summary: 'restore a backup into an empty database; --tenant S: replace tenants\' data in a running service; --cleanup: drop replaced data',
  usage: '[-c FILE] <file> [--server NAME] [--tenant SCHEMA]... [--concurrency N] | <file> --check | --cleanup',
  options: { tenant: { type: 'string', multiple: true }, concurrency: { type: 'string' }, cleanup: { type: 'boolean' }, check: { type: 'boolean' }, server: { type: 'string' } },
  async run(values, positionals) {
    const config = readConfig(values);
    if (values.cleanup) {
      if (positionals.length > 0) throw new errors.Usage('restore --cleanup takes no file');
      // On every database server.
      const dropped = [];
      for (const { name } of config.databases) {
        dropped.push(...await withDatabase(config, async (database) => {
          const c = await connectAdmin(database.adminUrl);
          try {
            const sides = await sideSchemas(c);
            for (const side of sides) await dropSideSchema(c, side);
            return sides;
          } finally {
            await c.end();
          }
        }, { server: name }));
      }
      process.stdout.write(dropped.length === 0 ? 'nothing to clean up\n' : `dropped ${dropped.map((s) => s.name).join(', ')}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new errors.Usage('restore takes one file');
    const reader = await BackupReader.open(path.resolve(positionals[0]!));
    if (values.check) {
      // The whole file read and checked, nothing restored: for a copy kept off the machine.
      await reader.verify();
      const { manifest } = reader;
      const tenants = manifest.schemas.filter((s) => s.kind === 'tenant');
      const rows = manifest.schemas.reduce((n, s) => n + s.tables.reduce((m, t) => m + t.rows, 0), 0);
      process.stdout.write(`${positionals[0]}: good; ${tenants.length} tenants${manifest.schemas.some((s) => s.kind === 'shared') ? ' and the shared tables' : ''}, ${rows} rows, as of ${manifest.snapshot} (tenantd ${manifest.tenantd}, PostgreSQL ${manifest.server})\n`);
      return 0;
    }
    const tenants = (values.tenant as string[] | undefined) ?? [];
    const shown = progress();
    if (tenants.length === 0) {
      let done = 0;
      const total = reader.manifest.schemas.length;
      await withDatabase(config, (database, provisioner) => {
        const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), provisioner);
        return restoreDatabase({
          adminUrl: database.adminUrl, provisioner, reader, folders: config.migrations, concurrency: concurrencyOf(values, config.migrations.concurrency),
          verifier: (site) => credentials.verifier(site),
          onSchema: () => shown.show(`restore: ${++done}/${total} schemas`),
        });
      }, { server: values.server as string | undefined });
      shown.done();
      const count = reader.manifest.schemas.filter((s) => s.kind === 'tenant').length;
      process.stdout.write(`restored ${positionals[0]}: ${count} tenants and the shared tables, as of ${reader.manifest.snapshot}\n`);
      return 0;
    }
    for (const schema of tenants) {
      if (!reader.manifest.schemas.some((s) => s.kind === 'tenant' && s.schema === schema)) throw new errors.Usage(`--tenant ${schema}: not in ${positionals[0]}`);
    }
    await reader.verify();
    for (const schema of tenants) {
      const copy = reader.manifest.schemas.find((s) => s.schema === schema)!;
      // On the server the tenant lives on.
      const { replaced } = await withDatabase(config, (database, provisioner) => replaceTenant({ adminUrl: database.adminUrl, provisioner, schema, copy, source: reader, folder: config.migrations.tenant }), { tenant: schema });
      const restart = await adminRequest(readAdminAddress(values), 'POST', `/restart?tenant=${encodeURIComponent(schema)}`)
        .then((reply) => (reply.status === 200 ? 'its workers restarted' : `its workers were not restarted: ${(reply.body as { error?: string }).error ?? reply.status}`))
        .catch((error: unknown) => (error instanceof errors.ServiceUnreachable ? 'the service is not running: its next start serves the restored data' : Promise.reject(error)));
      process.stdout.write(`restored ${schema} as of ${reader.manifest.snapshot}; ${restart}; its replaced data is kept as ${replaced} (restore --cleanup drops it)\n`);
    }
    return 0;
  },
};
