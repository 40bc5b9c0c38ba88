// tenantd check: validates the config and compiles the app; exit 0 when valid,
// 1 with the errors.
import { bundle } from '../build/bundle.ts';
import type { Command } from './command.ts';
import { configPath, readConfig } from './command.ts';

export const checkCommand: Command = {
  summary: 'validate the config and compile the app; exit 0 when valid, 1 with the errors',
  usage: '[-c FILE]',
  options: {},
  async run(values) {
    const config = readConfig(values);
    // As the service will: a syntax error in the app fails here, like `nginx -t`.
    await bundle(config.app, 'app');
    const hosts = config.tenants.reduce((n, t) => n + t.hosts.length, 0);
    process.stdout.write(`${configPath(values)}: ok (${config.tenants.length} tenants, ${hosts} hosts${config.public ? ', public site' : ''})\n`);
    return 0;
  },
};
