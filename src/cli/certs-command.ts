// tenantd certs list: every host of the running service with the certificate
// it is served with over HTTPS (its file or ACME, expiry), or none and why:
// then its handshakes are refused until one covers it. tenantd certs renew
// <host>: a new certificate by ACME now, waiting for the outcome.
import type { HostCertificate, RenewResult, SiteStatus } from '../admin/admin-types.ts';
import type { AcmeHostState } from '../acme/certificate-manager.ts';
import { errorClassOf, errors } from '../base/errors.ts';
import { adminRequest } from './admin-client.ts';
import type { Command } from './command.ts';
import { readAdminAddress } from './command.ts';

const day = 86_400_000;

/** ISO time as `YYYY-MM-DD HH:MM` UTC. */
const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

/** What ACME is doing for a host, in a few words. */
function acmeWords(acme: AcmeHostState): string {
  switch (acme.state) {
    case 'valid':
      return `ACME, renewed from ${when(acme.renewAt!)}${acme.error ? ` (last order failed: ${acme.error})` : ''}`;
    case 'pending':
      return 'ACME: pending, ordered soon; its HTTPS handshakes are refused until then';
    case 'ordering':
      return 'ACME: an order is under way';
    case 'failed':
      return `ACME: failed: ${acme.error}; next try ${when(acme.nextTry!)}`;
    case 'limited':
      return 'ACME: waiting for tls.acme.ordersPerHour';
    case 'unsupported':
      return `none: ${acme.error}`;
  }
}

function certificateWords(c: HostCertificate): string {
  if (c.file) return c.file;
  if (c.acme) return acmeWords(c.acme);
  return 'none: its HTTPS handshakes are refused';
}

export const certsListCommand: Command = {
  summary: 'every host with its HTTPS certificate (file or ACME, expiry, days left) or none and why',
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
      certificateWords(c)]));
    const header = ['HOST', 'TENANT', 'EXPIRES', 'CERTIFICATE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
    return 0;
  },
};

export const certsRenewCommand: Command = {
  summary: 'order a new certificate by ACME for a host now, and wait for the outcome',
  usage: '[-c FILE] <host>',
  options: {},
  async run(values, positionals) {
    if (positionals.length !== 1) throw new errors.Usage('certs renew takes one host');
    const host = positionals[0]!.toLowerCase();
    const { body } = await adminRequest(readAdminAddress(values), 'POST', `/certificates/renew?host=${encodeURIComponent(host)}`, 180_000);
    const result = body as RenewResult;
    if (!result.ok) throw errorClassOf(result.code)?.revive(result.error.replace(`${result.code}: `, '')) ?? new Error(result.error);
    if (result.state === 'valid') {
      process.stdout.write(`${host}: a new certificate is served; renewed from ${when(result.renewAt!)}\n`);
      return 0;
    }
    process.stdout.write(`${host}: ${acmeWords(result)}\n`);
    return 1;
  },
};
