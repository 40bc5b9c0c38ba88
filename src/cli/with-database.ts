// Opens the admin database (embedded or by URL) for one command, and closes it.
import type { Config } from '../config/config.ts';
import { openDatabase, type DatabaseHandle } from '../db/open-database.ts';
import { Provisioner } from '../db/provisioner.ts';

export async function withDatabase<T>(config: Config, work: (db: DatabaseHandle, provisioner: Provisioner) => Promise<T>): Promise<T> {
  const database = await openDatabase(config);
  const provisioner = Provisioner.forConfig(config.database, database.adminUrl);
  try {
    return await work(database, provisioner);
  } finally {
    await provisioner.close();
    await database.close();
  }
}
