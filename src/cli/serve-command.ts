// tenantd serve: runs the service in the foreground until SIGTERM or SIGINT.
import { createLogger } from '../log/logger.ts';
import { Service } from '../service.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';

export const serveCommand: Command = {
  summary: 'run the service in the foreground',
  usage: '[-c FILE]',
  options: {},
  async run(values) {
    const config = readConfig(values);
    const log = createLogger(config.log.level, { role: 'primary' });
    const service = new Service(config, { log });
    let stopping: Promise<void> | undefined;
    let stopped!: () => void;
    const done = new Promise<void>((resolve) => { stopped = resolve; });
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal: the operator wants out now.
        log.warn({ signal }, 'second signal; exiting at once');
        process.exit(1);
      }
      log.info({ signal }, 'stopping');
      stopping = service.stop().finally(() => stopped());
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    try {
      await service.start();
    } catch (error) {
      await service.stop().catch(() => {});
      throw error;
    }
    await done;
    return 0;
  },
};
