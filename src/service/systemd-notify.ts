// Tells systemd (Type=notify) where the service stands, without a native addon:
// Node cannot send on a unix datagram socket, so we run `systemd-notify`, which
// the unit allows with NotifyAccess=all. Outside systemd (no NOTIFY_SOCKET) it
// does nothing. Debian 12's systemd 252 has no Type=notify-reload, so a reload
// is framed by RELOADING=1 and READY=1 by hand.
import { execFile } from 'node:child_process';

export type NotifyState = 'READY=1' | 'RELOADING=1' | 'STOPPING=1';

export interface Notifier {
  notify(state: NotifyState, status?: string): Promise<void>;
}

export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, onError: (error: Error) => void = () => {}): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const command = env.TENANTD_SYSTEMD_NOTIFY ?? 'systemd-notify';
  return {
    notify(state, status) {
      if (!socket) return Promise.resolve();
      // MAINPID: the message comes from a child, so name the process systemd watches.
      const args = [`MAINPID=${process.pid}`, state, ...(status ? [`STATUS=${status}`] : [])];
      if (state === 'RELOADING=1') args.push(`MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
      return new Promise((resolve) => {
        execFile(command, args, { env: { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' }, timeout: 5000 }, (error) => {
          if (error) onError(error);
          resolve();
        });
      });
    },
  };
}
