// tenantd tenants list | drop: the registry beside the config.
import { pendingMigrations } from '../db/migration-runner.ts';
import { migrationNames } from '../db/applied-migrations.ts';
import { errors } from '../base/errors.ts';
import { withDatabase } from './with-database.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';

export interface TenantListing {
  schema: string;
  name: string;
  hosts: string[];
  /** active: in config and provisioned; new: in config, not yet provisioned; removed: data kept, not in config. */
  status: 'active' | 'new' | 'removed';
  pendingMigrations: string[] | null;
}

export const tenantsListCommand: Command = {
  summary: 'tenants with hosts, status and pending migrations',
  usage: '[-c FILE] [--json]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const config = readConfig(values);
    const listing = await withDatabase(config, async (database, provisioner) => {
      const registry = new Map((await provisioner.registry()).map((r) => [r.schema, r]));
      const rows: TenantListing[] = [];
      for (const t of config.tenants) {
        const row = registry.get(t.schema);
        rows.push({ schema: t.schema, name: t.name, hosts: [...t.hosts], status: row?.inConfig ? 'active' : 'new', pendingMigrations: null });
      }
      for (const r of registry.values()) {
        if (!config.tenants.some((t) => t.schema === r.schema)) rows.push({ schema: r.schema, name: r.name, hosts: r.hosts, status: 'removed', pendingMigrations: null });
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
    process.stdout.write(`${'SCHEMA'.padEnd(width)}  STATUS   PENDING  HOSTS\n`);
    for (const r of listing) {
      const pending = r.pendingMigrations === null ? '-' : String(r.pendingMigrations.length);
      process.stdout.write(`${r.schema.padEnd(width)}  ${r.status.padEnd(7)}  ${pending.padEnd(7)}  ${r.hosts.join(' ')}\n`);
    }
    return 0;
  },
};

export const tenantsDropCommand: Command = {
  summary: "drop a removed tenant's schema and role (its data is gone)",
  usage: '[-c FILE] <schema> --yes',
  options: { yes: { type: 'boolean' } },
  async run(values, positionals) {
    const config = readConfig(values);
    if (positionals.length !== 1) throw new errors.Usage('tenants drop takes exactly one schema');
    const schema = positionals[0]!;
    if (!values.yes) throw new errors.Usage(`dropping ${schema} deletes its data for good; add --yes`);
    await withDatabase(config, (_db, provisioner) => provisioner.drop(schema, config.tenants.map((t) => t.schema)));
    process.stdout.write(`dropped schema ${schema} and its role\n`);
    return 0;
  },
};
