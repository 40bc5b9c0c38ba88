// tenantd tenants list | drop: the registry beside the config.
import { pendingMigrations } from '../db/migration-runner.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import { errors } from '../base/errors.ts';
import { withServers } from './with-database.ts';
import type { RegistryRow } from '../db/registry.ts';
import { forgetPlacement, recordDropped } from '../db/placement.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';

export interface TenantListing {
  schema: string;
  name: string;
  hosts: string[];
  /** active: in config and provisioned; new: in config, not yet provisioned; removed: data kept, not in config. */
  status: 'active' | 'new' | 'removed';
  /** The database server it lives on (null: not placed yet). */
  server: string | null;
  /** A move under way, or a fenced copy a finished move left (tenants drop --from). */
  move: { to: string; phase: string } | null;
  leftOn: string | null;
  pendingMigrations: string[] | null;
}

export const tenantsListCommand: Command = {
  summary: 'tenants with their database server, hosts, status and pending migrations',
  usage: '[-c FILE] [--json]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const config = readConfig(values);
    const listing = await withServers(config, async (servers) => {
      const placement = await servers.placement();
      // Each tenant's row from the registry of the server it lives on.
      const registry = new Map<string, RegistryRow & { server: string }>();
      for (const server of servers.list) {
        for (const row of await server.provisioner.registry()) {
          const lives = placement.get(row.schema)?.server ?? 'default';
          if (lives === server.name || !registry.has(row.schema)) registry.set(row.schema, { ...row, server: server.name });
        }
      }
      const where = (schema: string) => {
        const placed = placement.get(schema);
        return { server: placed?.server ?? registry.get(schema)?.server ?? null, move: placed?.move ? { to: placed.move.to, phase: placed.move.phase } : null, leftOn: placed?.leftOn ?? null };
      };
      const rows: TenantListing[] = [];
      for (const t of config.tenants) {
        const row = registry.get(t.schema);
        rows.push({ schema: t.schema, name: t.name, hosts: [...t.hosts], status: row?.inConfig ? 'active' : 'new', ...where(t.schema), pendingMigrations: null });
      }
      for (const r of registry.values()) {
        if (!config.tenants.some((t) => t.schema === r.schema)) rows.push({ schema: r.schema, name: r.name, hosts: r.hosts, status: 'removed', ...where(r.schema), pendingMigrations: null });
      }
      // Pending: the folder's migrations the registry has not recorded as applied
      // (one query for every tenant); a registry from before that record asks each schema.
      const expected = migrationNames(config.migrations.tenant);
      for (const row of rows) {
        const recorded = registry.get(row.schema);
        if (!recorded) continue;
        if (recorded.migrations) {
          row.pendingMigrations = expected.filter((name) => !recorded.migrations!.includes(name));
          continue;
        }
        const { database, provisioner } = servers.get(recorded.server);
        row.pendingMigrations = await pendingMigrations({
          adminUrl: database.adminUrl, schema: row.schema, role: provisioner.roleOf(row.schema), folder: config.migrations.tenant,
          context: { schema: row.schema, sharedReaderRole: provisioner.sharedReaderRole },
        }).catch(() => null);
      }
      return rows;
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
      return 0;
    }
    const width = Math.max(6, ...listing.map((r) => r.schema.length));
    const serverWidth = Math.max(6, ...listing.map((r) => (r.server ?? '-').length));
    process.stdout.write(`${'SCHEMA'.padEnd(width)}  ${'SERVER'.padEnd(serverWidth)}  STATUS   PENDING  HOSTS\n`);
    for (const r of listing) {
      const pending = r.pendingMigrations === null ? '-' : String(r.pendingMigrations.length);
      const note = r.move ? `  (moving to ${r.move.to}: ${r.move.phase})` : r.leftOn ? `  (fenced copy on ${r.leftOn}: tenants drop ${r.schema} --from ${r.leftOn})` : '';
      process.stdout.write(`${r.schema.padEnd(width)}  ${(r.server ?? '-').padEnd(serverWidth)}  ${r.status.padEnd(7)}  ${pending.padEnd(7)}  ${r.hosts.join(' ')}${note}\n`);
    }
    return 0;
  },
};

export const tenantsDropCommand: Command = {
  summary: "drop a removed tenant's schema and role (its data is gone), or with --from the fenced copy a move left on a server",
  usage: '[-c FILE] <schema> [--from SERVER] --yes',
  options: { yes: { type: 'boolean' }, from: { type: 'string' } },
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 1) throw new errors.Usage('tenants drop takes exactly one schema');
    const schema = positionals[0]!;
    const from = values.from as string | undefined;
    if (!values.yes) throw new errors.Usage(`dropping ${schema}${from ? ` from ${from}` : ''} deletes ${from ? 'that copy of ' : ''}its data for good; add --yes`);
    await withServers(config, async (servers) => {
      const placed = (await servers.placement()).get(schema);
      if (from !== undefined) {
        // Only the copy a finished move left behind: never the one that serves.
        const server = servers.get(from);
        if (placed?.server === from || placed?.move) throw new errors.Usage(`${schema} ${placed.move ? 'is moving' : `is served from ${from}`}: --from drops only the fenced copy a finished move left`);
        if (placed?.leftOn !== from) throw new errors.Usage(`${schema} has no copy left by a move on ${from}`);
        await server.provisioner.drop(schema, []);
        await servers.default.provisioner.withClient((c) => recordDropped(c, schema));
        return;
      }
      await servers.get(placed?.server ?? 'default').provisioner.drop(schema, config.tenants.map((t) => t.schema));
      if (placed?.leftOn) await servers.get(placed.leftOn).provisioner.drop(schema, []).catch(() => {});
      await servers.default.provisioner.withClient((c) => forgetPlacement(c, schema));
    });
    process.stdout.write(from ? `dropped the copy of ${schema} on ${from}\n` : `dropped schema ${schema} and its role\n`);
    return 0;
  },
};
