// tenantd certs list: every host of the running service with the certificate
// it is served with over HTTPS (its file and expiry), or none: then its
// handshakes are refused until one covers it.
import type { SiteStatus } from '../admin/admin-types.ts';
import { adminRequest } from './admin-client.ts';
import type { Command } from './command.ts';
import { readAdminAddress } from './command.ts';

const day = 86_400_000;

export const certsListCommand: Command = {
  summary: 'every host with its HTTPS certificate (file, expiry, days left) or none',
  usage: '[-c FILE]',
  options: {},
  async run(values) {
    const { body } = await adminRequest(readAdminAddress(values), 'GET', '/status', 10_000);
    const tenants = (body as { tenants: SiteStatus[] }).tenants;
    if (!tenants.some((t) => t.certificates)) {
      process.stdout.write('no tls section: the service serves plain HTTP only\n');
      return 0;
    }
    const rows = tenants.flatMap((t) => (t.certificates ?? []).map((c) => [c.host, t.schema,
      c.expires ? `${c.expires.slice(0, 10)} (${Math.floor((Date.parse(c.expires) - Date.now()) / day)} days)` : '-',
      c.file ?? 'none: its HTTPS handshakes are refused']));
    const header = ['HOST', 'TENANT', 'EXPIRES', 'CERTIFICATE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
    return 0;
  },
};
