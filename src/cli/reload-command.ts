// tenantd reload: asks the running service to re-read its config; exit 0 when
// applied, 1 when rejected (with the error).
import type { Command } from './command.ts';
import { readAdminAddress } from './command.ts';
import { adminRequest } from './admin-client.ts';
import type { ReloadResult } from '../admin/admin-types.ts';

export const reloadCommand: Command = {
  summary: 'ask the running service to reload its config; exit 0 applied, 1 rejected',
  usage: '[-c FILE] [--json]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const { status, body } = await adminRequest(readAdminAddress(values), 'POST', '/reload');
    const result = body as ReloadResult;
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else if (result.ok) {
      const list = (xs: string[]) => (xs.length > 0 ? xs.join(', ') : 'none');
      process.stdout.write(`reloaded: added ${list(result.added)}; removed ${list(result.removed)}; changed ${list(result.changed)}\n`);
      for (const f of result.failed) process.stdout.write(`  ${f.schema}: could not start: ${f.error}\n`);
      if (result.restartRequired.length > 0) process.stdout.write(`  applies at the next restart: ${result.restartRequired.join(', ')}\n`);
      for (const warning of result.warnings ?? []) process.stdout.write(`  warning: ${warning}\n`);
    } else {
      process.stderr.write(`tenantd: reload rejected; the running config stays: ${result.error}\n`);
    }
    return status === 200 && result.ok ? 0 : 1;
  },
};
