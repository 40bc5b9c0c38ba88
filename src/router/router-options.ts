// The router's options: the `router` config keys (a reload may change all but
// maxHeaderSize), and the parts the service plugs in.
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { AccessEntry } from '../http/access-entry.ts';
import type { Forwarder } from './forwarder.ts';
import type { AlpnCertificate } from '../tls/alpn-challenge.ts';

/** The router's config keys a reload may change (maxHeaderSize is fixed for the server's life), and whether it writes access lines. */
export type RouterLimits = Omit<Config['router'], 'maxHeaderSize'> & { accessLog: boolean };

/** What the TLS listener needs to choose a tenant (the service's, changed on reload). */
export interface RouterTls {
  /** Whether `host` has a certificate (else its handshake is refused cleanly). */
  certified(host: string): boolean;
  /** Where a plain request of tenant `schema` for `hostname` and `target` is redirected (308), or undefined: served as it is. */
  redirect(schema: string, hostname: string, target: string): string | undefined;
  /** A host of the tenant that answers a ClientHello naming no host or an unknown one; undefined: an unrecognized_name alert. */
  defaultHost: string | undefined;
  /** ms a client has to send its ClientHello. */
  handshakeTimeout: number;
  /** The key authorization of an ACME HTTP-01 token (tls.acme), answered on the plain listener for any Host; undefined: not one of tenantd's. */
  challenge: ((token: string) => string | undefined | Promise<string | undefined>) | undefined;
  /** The certificate of an ACME TLS-ALPN-01 challenge for a host (tls.acme), answered on the TLS listener; undefined: none. */
  alpnChallenge: ((host: string) => AlpnCertificate | undefined | Promise<AlpnCertificate | undefined>) | undefined;
}

export interface RouterOptions extends RouterLimits {
  /** The TLS listener's choices, when there is one. */
  tls?: RouterTls | undefined;
  /** Bytes of request head; fixed for the server's life. */
  maxHeaderSize: number;
  forwarder: Forwarder;
  log: Logger;
  /** Called once per request the router answers (metrics). */
  onResponse?: (entry: AccessEntry) => void;
}
