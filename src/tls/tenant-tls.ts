// What a worker needs to terminate TLS for its tenant, as the primary sends it
// (over IPC, with the start message and again when it changes): that tenant's
// certificates only, its own session ticket keys and session id context, and
// the listener's protocol rules. And the TLS options every worker applies.
import type tls from 'node:tls';
import type { CertificatePem } from './certificates.ts';

export interface TenantTls {
  /** The certificates covering the tenant's hosts; the first serves a client that names no host. */
  certificates: CertificatePem[];
  /** 48 bytes (base64) for session tickets, this tenant's alone: a ticket from another tenant resumes nothing here. */
  ticketKeys: string;
  /** ms a client has to finish its handshake. */
  handshakeTimeout: number;
  /** The HTTPS port plain requests for a host with a certificate are redirected to; undefined: no redirect (opted out). */
  redirectPort: number | undefined;
  /** Seconds of Strict-Transport-Security on responses over HTTPS; 0: none. */
  hsts: number;
  /** tls.acme is on: ACME challenge paths go to the router, which answers them (never the application). */
  acme: boolean;
}

/** Where a plain request for `hostname` and `target` is redirected: https://, the port unless 443. */
export function httpsLocation(hostname: string, port: number, target: string): string {
  return `https://${hostname}${port === 443 ? '' : `:${port}`}${target}`;
}

const challengePrefix = '/.well-known/acme-challenge/';

/** ACME's HTTP-01 challenges are answered over plain HTTP, never redirected. */
export function redirectable(target: string): boolean {
  return !target.startsWith(challengePrefix);
}

/** The token of an ACME HTTP-01 challenge path (RFC 8555 §8.3: base64url), else undefined. */
export function challengeToken(target: string): string | undefined {
  if (!target.startsWith(challengePrefix)) return undefined;
  const token = target.slice(challengePrefix.length);
  return /^[A-Za-z0-9_-]+$/.test(token) ? token : undefined;
}

/**
 * Mozilla's "intermediate" configuration (TLS 1.2 ciphers; TLS 1.3's are
 * OpenSSL's defaults, all of them good): forward secrecy and AEAD only.
 */
export const intermediateCiphers = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The options of every tenant's TLS server, but for its certificates and keys. */
export function serverOptions(schema: string, config: TenantTls): tls.TlsOptions {
  return {
    minVersion: 'TLSv1.2',
    ciphers: intermediateCiphers,
    honorCipherOrder: false,
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: config.handshakeTimeout,
    // A session id from one tenant's cache is never resumed by another's.
    sessionIdContext: schema.slice(0, 32),
    ticketKeys: Buffer.from(config.ticketKeys, 'base64'),
  };
}
