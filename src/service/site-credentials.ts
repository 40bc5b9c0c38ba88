// A site's database credentials, as the primary hands them out: the SCRAM
// verifier the provisioner sets on the site's role, and the URL and passwords
// its workers log in with (never the admin's). Both derive from the credentials
// secret, so they are the same on every node and at every start.
import type { Config, Site } from '../config/config.ts';
import type { CredentialsSecret } from '../db/credentials-secret.ts';
import type { Provisioner } from '../db/provisioner.ts';
import { tenantUrl, type TenantCredentials } from '../db/tenant-credentials.ts';

export class SiteCredentials {
  readonly secret: CredentialsSecret;
  readonly #provisioner: Provisioner;

  /** `provisioner`: the default server's (a role's name and password are the same on every server). */
  constructor(secret: CredentialsSecret, provisioner: Provisioner) {
    this.secret = secret;
    this.#provisioner = provisioner;
  }

  /** The SCRAM verifier of `site`'s role: what PostgreSQL stores, never the password. */
  verifier(site: Site): string {
    return this.secret.verifier(this.#provisioner.identity, this.#provisioner.roleOf(site.schema));
  }

  /** What `site`'s workers connect with, on the server whose admin URL is `adminUrl`. */
  of(site: Site, database: Config['database'], adminUrl: string): TenantCredentials {
    const role = this.#provisioner.roleOf(site.schema);
    return {
      url: tenantUrl(adminUrl, role),
      passwords: this.secret.passwords(this.#provisioner.identity, role),
      schema: site.schema,
      statementTimeout: database.statementTimeout,
      poolSize: database.poolSize,
      idleTimeout: database.idleTimeout,
    };
  }
}
