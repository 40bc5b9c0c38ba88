// tenantd status: the running service in a few lines (tenants by state, live
// workers against the cap, memory, database connections); every tenant with
// --all; everything as JSON with --json.
import type { ServiceSummary, SiteStatus } from '../admin/admin-types.ts';
import type { Command } from './command.ts';
import { readAdminAddress } from './command.ts';
import { adminRequest } from './admin-client.ts';

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/** With tls: hosts by certificate (those without one named, with why), for `tenantd certs list` to say more. */
function certificateLines(tenants: SiteStatus[]): string[] {
  const hosts = tenants.flatMap((t) => t.certificates ?? []);
  if (hosts.length === 0) return [];
  const served = hosts.filter((c) => c.expires !== null).length;
  const missing = hosts.filter((c) => c.expires === null);
  const why = missing.slice(0, 5).map((c) => `${c.host} (${c.acme ? `ACME ${c.acme.state}${c.acme.state === 'failed' ? `: ${c.acme.error}` : ''}` : 'no certificate'})`);
  return [`https:       ${served} of ${hosts.length} hosts with a certificate${missing.length > 0 ? `; without: ${why.join(', ')}${missing.length > 5 ? ', …' : ''} (tenantd certs list)` : ''}`];
}

export const statusCommand: Command = {
  summary: "the running service: tenants by state, live workers, memory, connections (--all: every tenant)",
  usage: '[-c FILE] [--all] [--json]',
  options: { json: { type: 'boolean' }, all: { type: 'boolean' } },
  async run(values) {
    const { body } = await adminRequest(readAdminAddress(values), 'GET', '/status', 10_000);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    const { summary, tenants } = body as { summary: ServiceSummary; tenants: SiteStatus[] };
    const states = Object.entries(summary.sites).map(([state, n]) => `${n} ${state}`).join(', ') || 'none';
    process.stdout.write([
      `tenants:     ${tenants.length} (${states})`,
      `workers:     ${summary.liveWorkers} live of at most ${summary.maxLive}`,
      `memory:      ${mib(summary.residentBytes)} resident (primary and workers)`,
      ...summary.databases.map((db) => `database:    ${summary.databases.length > 1 ? `${db.name}: ` : ''}${db.up ? 'up' : `DOWN (${db.reason})`}, ${db.tenants} tenants, ${db.connections} tenant connections (budget ${db.budget} of the server's ${db.serverMaxConnections})${db.orphanSlots.length > 0 ? `; replication slots an interrupted move left: ${db.orphanSlots.join(', ')} (tenants move <schema> --abort)` : ''}`),
      ...certificateLines(tenants),
      '',
    ].join('\n'));
    // Without --all, only the tenants that need a look.
    const shown = values.all ? tenants : tenants.filter((t) => t.state === 'failed' || t.state === 'unavailable' || t.state === 'starting');
    if (shown.length === 0) return 0;
    const width = Math.max(6, ...shown.map((t) => t.schema.length));
    const serverWidth = Math.max(6, ...shown.map((t) => t.server.length));
    process.stdout.write(`\n${'SCHEMA'.padEnd(width)}  ${'SERVER'.padEnd(serverWidth)}  STATE        WORKERS (pid:port state restarts)\n`);
    for (const t of shown) {
      const workers = t.workers.map((w) => `${w.pid ?? '-'}:${w.port ?? '-'} ${w.state} ${w.restarts}`).join(', ') || (t.error ?? '-');
      const move = t.move ? ` (moving to ${t.move.to}: ${t.move.phase})` : '';
      process.stdout.write(`${t.schema.padEnd(width)}  ${t.server.padEnd(serverWidth)}  ${t.state.padEnd(11)}  ${workers}${t.error && t.workers.length > 0 ? ` (${t.error})` : ''}${move}\n`);
    }
    return 0;
  },
};
