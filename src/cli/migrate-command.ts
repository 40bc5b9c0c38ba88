// tenantd migrate: shared migrations in public, then tenant migrations in every
// (or each named) tenant schema; a summary per tenant; exit 1 if any failed.
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { provisionOnServers, type SiteResult } from '../db/provision-sites.ts';
import { SiteCredentials } from '../service/site-credentials.ts';
import { errors } from '../base/errors.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';
import { withServers } from './with-database.ts';

export const migrateCommand: Command = {
  summary: 'run shared then tenant migrations; exit 1 if any failed',
  usage: '[-c FILE] [--tenant SCHEMA]... [--concurrency N]',
  options: {
    tenant: { type: 'string', multiple: true },
    concurrency: { type: 'string' },
  },
  async run(values) {
    const config = readConfig(values);
    const only = (values.tenant as string[] | undefined) ?? [];
    const unknown = only.filter((s) => !config.tenants.some((t) => t.schema === s));
    if (unknown.length > 0) throw new errors.Usage(`--tenant ${unknown.join(', ')}: not a tenant in the config`);
    const concurrency = values.concurrency === undefined ? config.migrations.concurrency : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new errors.Usage('--concurrency: expected a whole number ≥ 1');
    const sites = only.length > 0
      ? config.tenants.filter((t) => only.includes(t.schema))
      : [...(config.public ? [config.public] : []), ...config.tenants];

    const tty = process.stderr.isTTY;
    const total = sites.length + 1;
    let done = 0;
    let failures = 0;
    const began = Date.now();
    // On a terminal, one line rewritten in place; otherwise the summary below is the record.
    const progress = (r: SiteResult) => {
      done += 1;
      if (!r.ok) failures += 1;
      const rate = done / Math.max(0.001, (Date.now() - began) / 1000);
      if (tty) process.stderr.write(`\r\x1b[Kmigrating: ${done}/${total} schemas, ${failures} failed, ${rate.toFixed(0)}/s, last ${r.schema} ${r.ok ? 'ok' : 'FAILED'}`);
    };
    return withServers(config, async (servers) => {
      // The passwords are set where the roles are made: a serve after this finds every role current.
      const credentials = new SiteCredentials(CredentialsSecret.read(config.database.secretFile, true), servers.default.provisioner);
      const verifiers = new Map(sites.map((site) => [site.schema, credentials.verifier(site)]));
      // Each tenant where it lives (a new one placed now); shared migrations on every server.
      const placed = await servers.assign(sites, config.placement);
      const moving = sites.filter((s) => placed.recorded.get(s.schema)?.move).map((s) => s.schema);
      if (moving.length > 0) throw new errors.Usage(`${moving.join(', ')}: a move is under way; migrate after it (DDL during a move breaks its replication)`);
      const result = await provisionOnServers({
        servers, placement: placed.servers, sites, folders: config.migrations, concurrency, onResult: progress, verifiers,
        // Named tenants are checked in their schemas, whatever the registry recorded.
        force: only.length > 0,
      });
      if (only.length === 0) for (const server of servers.list) await server.provisioner.syncRegistry(config.tenants.map((x) => x.schema));
      if (tty) process.stderr.write('\r\x1b[K');
      const several = servers.list.length > 1;
      const rows = [
        ...servers.names.map((server): [string, SiteResult] => [server, result.shared.get(server)!]).map(([server, r]) => ({ ...r, schema: several ? `public (shared) @${server}` : 'public (shared)', server })),
        ...result.sites.map((r) => (r.schema === 'public' ? { ...r, schema: 'public (site)' } : r)),
      ];
      const width = Math.max(6, ...rows.map((r) => r.schema.length));
      const serverWidth = Math.max(...rows.map((r) => r.server.length));
      for (const r of rows) {
        const what = r.ok
          ? (r.applied.length > 0 ? `applied ${r.applied.join(', ')}` : 'up to date')
          : `FAILED${r.stage ? ` (${r.stage}${r.failedMigration ? ` ${r.failedMigration}` : ''})` : ''}: ${r.error}`;
        process.stdout.write(`${r.schema.padEnd(width)}  ${several ? `${r.server.padEnd(serverWidth)}  ` : ''}${what}\n`);
      }
      for (const warning of placed.warnings) process.stderr.write(`tenantd: warning: ${warning}\n`);
      const failed = rows.filter((r) => !r.ok).length;
      process.stdout.write(`${rows.length} schemas: ${rows.length - failed} ok, ${failed} failed\n`);
      return result.ok ? 0 : 1;
    });
  },
};
