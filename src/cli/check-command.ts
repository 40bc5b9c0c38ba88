// tenantd check: validates the config and compiles the app and its migrations;
// exit 0 when valid, 1 with the errors. With several database servers, says
// for each one given by URL what online moves between them still need there.
import path from 'node:path';
import { bundle } from '../build/bundle.ts';
import { migrationFilesIn } from '../db/migration-files.ts';
import { moveReadiness } from '../db/move-readiness.ts';
import type { Command } from './command.ts';
import { configPath, readConfig } from './command.ts';

export const checkCommand: Command = {
  summary: 'validate the config and compile the app and its migrations; exit 0 when valid, 1 with the errors',
  usage: '[-c FILE]',
  options: {},
  async run(values) {
    const config = readConfig(values);
    // As the service will: a syntax error in the app fails here, like `nginx -t`.
    await bundle(config.app, 'app');
    let migrations = 0;
    for (const folder of [config.migrations.shared, config.migrations.tenant]) {
      const names = migrationFilesIn(folder);
      for (const name of names) await bundle(path.join(folder, name), 'migration');
      migrations += names.length;
    }
    const hosts = config.tenants.reduce((n, t) => n + t.hosts.length, 0);
    process.stdout.write(`${configPath(values)}: ok (${config.tenants.length} tenants, ${hosts} hosts${config.public ? ', public site' : ''}, ${migrations} migrations)\n`);
    if (config.databases.length > 1) {
      for (const server of config.databases) {
        if (!server.url) {
          process.stdout.write(`database ${server.name}: embedded, set up for online moves\n`);
          continue;
        }
        const missing = await moveReadiness(server.url).catch((error: Error) => [`cannot connect to check it: ${error.message}`]);
        process.stdout.write(missing.length === 0
          ? `database ${server.name}: ready for online moves\n`
          : `database ${server.name}: online moves (tenants move) need, as a superuser there: ${missing.join(' ')}\n`);
      }
    }
    return 0;
  },
};
