// tenantd tenants clone <from> <to> --host H: a new tenant made from another
// (a template) with its data, written to the config (tenantsDir/<to>.yaml) and
// served. With the service running, the service does it (POST /clone): it
// holds the connections and the config already, and adds the one site without
// reading the whole config again. Without it, the command does it and the
// next start serves it.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { errorClassOf, errors } from '../base/errors.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { cloneFile, cloneSite, cloneTenant } from '../data/clone-tenant.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import type { CloneResult } from '../admin/admin-types.ts';
import { adminRequest } from './admin-client.ts';
import type { Command } from './command.ts';
import { readAdminAddress, readConfig } from './command.ts';
import { withDatabase } from './with-database.ts';

export const tenantsCloneCommand: Command = {
  summary: 'make a new tenant from another (a template) with its data, add it to tenantsDir and serve it',
  usage: '[-c FILE] <from> <to> --host HOST... [--name NAME]',
  options: { host: { type: 'string', multiple: true }, name: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length !== 2) throw new errors.Usage('tenants clone takes the template\'s schema and the new one');
    const [from, to] = positionals as [string, string];
    const hosts = (values.host as string[] | undefined) ?? [];
    const name = values.name as string | undefined;
    const started = performance.now();
    const query = new URLSearchParams([['from', from], ['to', to], ...hosts.map((h) => ['host', h]), ...(name ? [['name', name]] : [])]);
    const served = await adminRequest(readAdminAddress(values), 'POST', `/clone?${query}`)
      .then((reply) => reply.body as CloneResult)
      .catch((error: unknown) => (error instanceof errors.ServiceUnreachable ? undefined : Promise.reject(error)));
    if (served) {
      // The service's error, as the command would have thrown it.
      if (!served.ok) throw errorClassOf(served.code)?.revive(served.error.replace(`${served.code}: `, '')) ?? new errors.CloneFailed(served.error);
      process.stdout.write(`cloned ${from} to ${to} (${served.rows} rows, ${((performance.now() - started) / 1000).toFixed(2)} s): wrote ${served.file}; it serves\n`);
      return 0;
    }
    // The service is not running: the clone is made here, served at its next start.
    const config = readConfig(values);
    const site = cloneSite(config, from, to, hosts, name);
    const { rows } = await withDatabase(config, (database, provisioner) => {
      const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), provisioner);
      return cloneTenant({ adminUrl: database.adminUrl, provisioner, from, site, verifier: credentials.verifier(site), folder: config.migrations.tenant });
    }, { tenant: from });
    const file = path.join(config.tenantsDir!, `${to}.yaml`);
    writeFileSync(file, cloneFile(site), { flag: 'wx' });
    process.stdout.write(`cloned ${from} to ${to} (${rows} rows, ${((performance.now() - started) / 1000).toFixed(2)} s): wrote ${file}; the service is not running: its next start serves it\n`);
    return 0;
  },
};
