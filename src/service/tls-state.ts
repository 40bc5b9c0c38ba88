// The service's HTTPS state: the certificates read from tls.certificates (again
// at each reload, so changed files are picked up), what each tenant's workers
// get of them, the router's choices, and each tenant's session ticket keys:
// derived from the credentials secret, the tenant and the current period of
// tls.ticketRotation, so that every node gives the same keys (a ticket resumes
// on any node) and no tenant's keys open another's tickets.
import type { Config, Site } from '../config/config.ts';
import type { CredentialsSecret } from '../db/credentials-secret.ts';
import type { RouterTls } from '../router/router.ts';
import { certificateFor, certificatesOf, loadCertificates, type LoadedCertificate } from '../tls/certificates.ts';
import { httpsLocation, redirectable, type TenantTls } from '../tls/tenant-tls.ts';
import type { HostCertificate } from '../admin/admin-types.ts';

type TlsConfig = NonNullable<Config['tls']>;

export class TlsState {
  readonly #config: TlsConfig;
  readonly #certificates: LoadedCertificate[];
  readonly #secret: CredentialsSecret;
  readonly #defaultHost: string | undefined;

  /** The TLS listener's bound port (tls.listen may say 0: any). */
  readonly #boundPort: number | undefined;

  /** Reads every certificate file; throws TENANTD_CERTIFICATE_INVALID naming the first bad one. */
  constructor(config: Config & { tls: TlsConfig }, secret: CredentialsSecret, boundPort?: number) {
    this.#config = config.tls;
    this.#boundPort = boundPort;
    this.#secret = secret;
    this.#certificates = loadCertificates(config.tls.certificates, '/');
    const fallback = config.tenants.find((t) => t.schema === config.tls.defaultTenant);
    this.#defaultHost = fallback?.hosts.find((h) => !h.startsWith('*.'));
  }

  /** The period of tls.ticketRotation that `now` falls in. */
  epoch(now = Date.now()): number {
    return Math.floor(now / this.#config.ticketRotation);
  }

  /** What `site`'s workers get: its certificates only, its ticket keys for this period. */
  forSite(site: Site, now = Date.now()): TenantTls {
    return {
      certificates: certificatesOf(this.#certificates, site.hosts),
      ticketKeys: this.#secret.derive(`tls-ticket\0${site.schema}\0${this.epoch(now)}`).subarray(0, 48).toString('base64'),
      handshakeTimeout: this.#config.handshakeTimeout,
      redirectPort: this.#redirectPort(site.schema),
      hsts: Math.floor(this.#config.hsts / 1000),
    };
  }

  /** The port plain requests of tenant `schema` are redirected to, or undefined when it is not. */
  #redirectPort(schema: string): number | undefined {
    if (!this.#config.redirect || this.#config.redirectExcept.includes(schema)) return undefined;
    return this.#config.publicPort ?? (this.#config.listen.port || this.#boundPort || 443);
  }

  /** Each host of `site` with the certificate that covers it (null: none, its handshakes are refused). */
  hostCertificates(site: Site): HostCertificate[] {
    return site.hosts.map((host) => {
      const c = certificateFor(this.#certificates, host);
      return { host, file: c?.source ?? null, expires: c ? new Date(c.notAfter).toISOString() : null };
    });
  }

  /** The router's choices: which names have a certificate, the default tenant's host. */
  get router(): RouterTls {
    const certificates = this.#certificates;
    return {
      certified: (host) => certificateFor(certificates, host) !== undefined,
      redirect: (schema, hostname, target) => {
        const port = this.#redirectPort(schema);
        if (port === undefined || !redirectable(target) || certificateFor(certificates, hostname) === undefined) return undefined;
        return httpsLocation(hostname, port, target);
      },
      defaultHost: this.#defaultHost,
      handshakeTimeout: this.#config.handshakeTimeout,
    };
  }
}
