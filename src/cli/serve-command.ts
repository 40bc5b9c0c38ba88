// tenantd serve: runs the service in the foreground. SIGHUP reloads the config;
// SIGTERM or SIGINT stop it gracefully, a second one at once.
import { createLogger } from '../log/logger.ts';
import { PrettyOutput } from '../service/pretty-output.ts';
import { Service } from '../service/service.ts';
import { systemdNotifier } from '../service/systemd-notify.ts';
import type { Command } from './command.ts';
import { readConfig } from './command.ts';

export const serveCommand: Command = {
  summary: 'run the service in the foreground',
  usage: '[-c FILE]',
  options: {},
  async run(values) {
    const config = readConfig(values);
    // Readable lines on a terminal, formatted off the main thread; JSON anywhere else.
    const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stdout.isTTY === true);
    const output = pretty ? await PrettyOutput.start(process.stdout.isTTY === true && process.stdout.hasColors()) : undefined;
    const log = createLogger(config.log.level, { role: 'primary' }, output?.destination);
    const systemd = systemdNotifier(process.env, (error) => log.warn({ err: error }, 'systemd-notify failed'));
    const service = new Service(config, { log, ...(output ? { output } : {}) });
    let stopping: Promise<void> | undefined;
    let stopped!: () => void;
    const done = new Promise<void>((resolve) => { stopped = resolve; });
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal: the operator wants out now. Workers exit with the IPC channel.
        log.warn({ signal }, 'second signal; exiting at once');
        service.abandon();
        process.exit(1);
      }
      log.info({ signal }, 'stopping: finishing in-flight requests');
      stopping = systemd.notify('STOPPING=1').then(() => service.stop()).finally(() => stopped());
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Whatever a reload meets, it is logged and the running config stays: a signal
    // handler that threw would end the process.
    process.on('SIGHUP', () => {
      void (async () => {
        await systemd.notify('RELOADING=1');
        const result = await service.reload();
        await systemd.notify('READY=1', result.ok ? 'reloaded' : 'reload rejected; running the previous config');
      })().catch((error: unknown) => log.error({ err: error }, 'reload failed; the running config stays'));
    });
    try {
      await service.start();
    } catch (error) {
      await service.stop().catch(() => {});
      await output?.close();
      throw error;
    }
    if (!stopping) await systemd.notify('READY=1', `serving ${config.tenants.length} tenants`);
    await done;
    await output?.close();
    return 0;
  },
};
