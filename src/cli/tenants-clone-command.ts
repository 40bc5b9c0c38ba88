// tenantd tenants clone <from> <to> --host H: a new tenant made from another
// (a template) with its data, written to the config (tenantsDir/<to>.yaml)
// and served after a reload of the running service.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { errors } from '../base/errors.ts';
import { isTenantSchemaName } from '../base/schema-name.ts';
import { hostName } from '../config/config-schema.ts';
import type { Site } from '../config/config.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { cloneTenant } from '../data/clone-tenant.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import type { ReloadResult } from '../admin/admin-types.ts';
import { adminRequest } from './admin-client.ts';
import type { Command } from './command.ts';
import { readAdminAddress, readConfig } from './command.ts';
import { withDatabase } from './with-database.ts';

export const tenantsCloneCommand: Command = {
  summary: 'make a new tenant from another (a template) with its data, add it to tenantsDir and reload',
  usage: '[-c FILE] <from> <to> --host HOST... [--name NAME]',
  options: { host: { type: 'string', multiple: true }, name: { type: 'string' } },
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 2) throw new errors.Usage('tenants clone takes the template\'s schema and the new one');
    const [from, to] = positionals as [string, string];
    if (!isTenantSchemaName(to)) throw new errors.SchemaName(to);
    if (!config.tenants.some((t) => t.schema === from)) throw new errors.Usage(`${from} is not a tenant in the config`);
    if (config.tenants.some((t) => t.schema === to)) throw new errors.Usage(`${to} is already a tenant in the config`);
    if (!config.tenantsDir) throw new errors.Usage('the config has no tenantsDir: clone writes the new tenant there');
    const hosts = ((values.host as string[] | undefined) ?? []).map((raw) => {
      const parsed = hostName.safeParse(raw);
      if (!parsed.success) throw new errors.Usage(`--host ${raw}: ${parsed.error.issues[0]!.message}`);
      return parsed.data;
    });
    if (hosts.length === 0) throw new errors.Usage('tenants clone needs at least one --host');
    const taken = [...config.tenants, ...(config.public ? [config.public] : [])].find((t) => t.hosts.some((h) => hosts.includes(h)));
    if (taken) throw new errors.Usage(`a --host is already ${taken.schema}'s`);
    const name = (values.name as string | undefined) ?? to;
    const site: Site = { schema: to, name, hosts, settings: {}, allowTrace: false, min: config.workers.min, max: config.workers.max };
    const started = performance.now();
    const { rows } = await withDatabase(config, (database, provisioner) => {
      const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), provisioner, database.adminUrl);
      return cloneTenant({ adminUrl: database.adminUrl, provisioner, from, site, verifier: credentials.verifier(site), folder: config.migrations.tenant });
    });
    const file = path.join(config.tenantsDir, `${to}.yaml`);
    writeFileSync(file, stringify({ schema: to, ...(name === to ? {} : { name }), hosts }), { flag: 'wx' });
    const reloaded = await adminRequest(readAdminAddress(values), 'POST', '/reload')
      .then((reply) => {
        const result = reply.body as ReloadResult;
        return result.ok ? (result.added.includes(to) ? 'reloaded: it serves' : 'reloaded') : `the reload was refused: ${result.error}`;
      })
      .catch((error: unknown) => (error instanceof errors.ServiceUnreachable ? 'the service is not running: its next start serves it' : Promise.reject(error)));
    process.stdout.write(`cloned ${from} to ${to} (${rows} rows, ${((performance.now() - started) / 1000).toFixed(2)} s): wrote ${file}; ${reloaded}\n`);
    return 0;
  },
};
