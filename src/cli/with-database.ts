// Opens the database servers for one command, and closes them: one server
// (withDatabase), or every server of the config (withServers).
import type { Config } from '../config/config.ts';
import { openDatabase, type DatabaseHandle } from '../db/open-database.ts';
import { Provisioner } from '../db/provisioner.ts';
import { DatabaseServers } from '../db/database-servers.ts';
import { readPlacement } from '../db/placement.ts';
import { errors } from '../base/errors.ts';

/**
 * Opens one database server for one command and closes it: the default, the
 * one named by `on.server` (--server), or the one `on.tenant` lives on (the
 * placement table). A server other than the default gets the default's role
 * prefix, as the service gives it.
 */
export async function withDatabase<T>(config: Config, work: (db: DatabaseHandle, provisioner: Provisioner) => Promise<T>, on: { server?: string | undefined; tenant?: string } = {}): Promise<T> {
  const first = await openDatabase(config.databases[0]!);
  const defaultProvisioner = Provisioner.forConfig(config.database, first.adminUrl);
  try {
    let name = on.server ?? 'default';
    if (on.tenant !== undefined && config.databases.length > 1) name = (await defaultProvisioner.withClient((c) => readPlacement(c))).get(on.tenant)?.server ?? 'default';
    if (name === 'default') return await work(first, defaultProvisioner);
    const spec = config.databases.find((d) => d.name === name);
    if (!spec) throw new errors.ServerUnknown(name, config.databases.map((d) => d.name).join(', '));
    const other = await openDatabase(spec);
    const provisioner = Provisioner.forConfig(config.database, other.adminUrl, defaultProvisioner);
    try {
      return await work(other, provisioner);
    } finally {
      await provisioner.close();
      await other.close();
    }
  } finally {
    await defaultProvisioner.close();
    await first.close();
  }
}

export async function withServers<T>(config: Config, work: (servers: DatabaseServers) => Promise<T>): Promise<T> {
  const servers = await DatabaseServers.open(config);
  try {
    return await work(servers);
  } finally {
    await servers.close();
  }
}
