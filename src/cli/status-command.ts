// tenantd status: the running service's tenants and workers.
import type { SiteStatus } from '../service/service.ts';
import type { Command } from './command.ts';
import { readAdminAddress } from './command.ts';
import { adminRequest } from './admin-client.ts';

export const statusCommand: Command = {
  summary: "the running service's tenants and workers",
  usage: '[-c FILE] [--json]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const { body } = await adminRequest(readAdminAddress(values), 'GET', '/status', 10_000);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    const tenants = (body as { tenants: SiteStatus[] }).tenants;
    const width = Math.max(6, ...tenants.map((t) => t.schema.length));
    process.stdout.write(`${'SCHEMA'.padEnd(width)}  STATE     WORKERS (pid:port state restarts)\n`);
    for (const t of tenants) {
      const workers = t.workers.map((w) => `${w.pid ?? '-'}:${w.port ?? '-'} ${w.state} ${w.restarts}`).join(', ') || (t.error ?? '-');
      process.stdout.write(`${t.schema.padEnd(width)}  ${t.state.padEnd(8)}  ${workers}\n`);
    }
    return 0;
  },
};
