// Opens the database servers for one command, and closes them: the default
// server alone (withDatabase), or every server of the config (withServers).
import type { Config } from '../config/config.ts';
import { openDatabase, type DatabaseHandle } from '../db/open-database.ts';
import { Provisioner } from '../db/provisioner.ts';
import { DatabaseServers } from '../db/database-servers.ts';

export async function withDatabase<T>(config: Config, work: (db: DatabaseHandle, provisioner: Provisioner) => Promise<T>): Promise<T> {
  const database = await openDatabase(config.databases[0]!);
  const provisioner = Provisioner.forConfig(config.database, database.adminUrl);
  try {
    return await work(database, provisioner);
  } finally {
    await provisioner.close();
    await database.close();
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
