// The service's HTTPS state: the certificates read from tls.certificates (again
// at each reload, so changed files are picked up) and those ACME issued (the
// certificate manager's, replaced as it issues), what each tenant's workers
// get of them, the router's choices, and each tenant's session ticket keys:
// derived from the credentials secret, the tenant and the current period of
// tls.ticketRotation, so that every node gives the same keys (a ticket resumes
// on any node) and no tenant's keys open another's tickets.
import type { Config, Site } from '../config/config.ts';
import type { CredentialsSecret } from '../db/credentials-secret.ts';
import type { RouterTls } from '../router/router.ts';
import { certificateFor, certificatesOf, loadCertificates, type CertificatePem, type LoadedCertificate } from '../tls/certificates.ts';
import { httpsLocation, redirectable, type TenantTls } from '../tls/tenant-tls.ts';
import type { HostCertificate } from '../admin/admin-types.ts';
import type { CertificateManager } from '../acme/certificate-manager.ts';

type TlsConfig = NonNullable<Config['tls']>;

export class TlsState {
  readonly #config: TlsConfig;
  /** The files' certificates, then ACME's. */
  #certificates: LoadedCertificate[];
  readonly #files: LoadedCertificate[];
  readonly #secret: CredentialsSecret;
  readonly #defaultHost: string | undefined;

  /** The TLS listener's bound port (tls.listen may say 0: any). */
  readonly #boundPort: number | undefined;

  /** Reads every certificate file; throws TENANTD_CERTIFICATE_INVALID naming the first bad one. */
  constructor(config: Config & { tls: TlsConfig }, secret: CredentialsSecret, boundPort?: number) {
    this.#config = config.tls;
    this.#boundPort = boundPort;
    this.#secret = secret;
    this.#files = loadCertificates(config.tls.certificates, '/');
    this.#certificates = this.#files;
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
      certificates: this.certificatesFor(site),
      ticketKeys: this.#secret.derive(`tls-ticket\0${site.schema}\0${this.epoch(now)}`).subarray(0, 48).toString('base64'),
      handshakeTimeout: this.#config.handshakeTimeout,
      redirectPort: this.#redirectPort(site.schema),
      hsts: Math.floor(this.#config.hsts / 1000),
      acme: this.#config.acme !== undefined,
    };
  }

  /** The certificates `site`'s workers get: those covering its hosts, each once. */
  certificatesFor(site: Site): CertificatePem[] {
    return certificatesOf(this.#certificates, site.hosts);
  }

  /** The port plain requests of tenant `schema` are redirected to, or undefined when it is not. */
  #redirectPort(schema: string): number | undefined {
    if (!this.#config.redirect || this.#config.redirectExcept.includes(schema)) return undefined;
    return this.#config.publicPort ?? (this.#config.listen.port || this.#boundPort || 443);
  }

  /** The certificates ACME issued, beside the files' (the manager's list, whenever it changes). */
  setIssued(issued: readonly LoadedCertificate[]): void {
    this.#certificates = [...this.#files, ...issued];
  }

  /** The hosts of `sites` ACME is to keep certified: those no file covers, but tls.acme.except's. */
  acmeHosts(sites: readonly Site[]): string[] {
    const except = this.#config.acme?.except ?? [];
    return sites.filter((site) => !except.includes(site.schema)).flatMap((site) => site.hosts.filter((host) => certificateFor(this.#files, host) === undefined));
  }

  /** Each host of `site` with the certificate that covers it (null: none, its handshakes are refused), and where ACME stands for it. */
  hostCertificates(site: Site, acme: CertificateManager | undefined): HostCertificate[] {
    return site.hosts.map((host) => {
      const c = certificateFor(this.#certificates, host);
      const file = c && c.source !== 'acme' ? c.source : null;
      return {
        host,
        file,
        expires: c ? new Date(c.notAfter).toISOString() : null,
        ...(acme?.manages(host) ? { acme: acme.state(host) } : {}),
      };
    });
  }

  /** The router's choices: which names have a certificate, the default tenant's host, ACME's HTTP-01 answers. */
  router(acme: CertificateManager | undefined): RouterTls {
    const certificates = this.#certificates;
    return {
      challenge: acme && ((token) => acme.challenge(token)),
      alpnChallenge: acme && ((host) => acme.alpnChallenge(host)),
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
