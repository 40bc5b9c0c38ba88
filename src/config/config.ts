// The validated, defaulted, frozen config that every part of tenantd receives.

/** One site: a tenant, or the public site (schema `public`). */
export interface Site {
  readonly schema: string;
  readonly name: string;
  /** Lower-case host names and `*.suffix` wildcards. */
  readonly hosts: readonly string[];
  readonly settings: Readonly<Record<string, unknown>>;
  /** Workers always running (0: none until a request comes). */
  readonly min: number;
  /** Most workers when all are busy (≥ min, ≥ 1). */
  readonly max: number;
}

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  /** Absolute path of the main config file. */
  readonly file: string;
  readonly listen: Address;
  readonly admin: Address;
  /** Bearer token the admin API requires, if any. */
  readonly adminToken: string | undefined;
  readonly database: {
    /** Admin connection; undefined = embedded PostgreSQL. */
    readonly url: string | undefined;
    /** Embedded data directory (absolute). */
    readonly dataDir: string;
    readonly port: number | undefined;
    readonly poolSize: number;
    readonly rolePrefix: string | undefined;
    readonly connectionLimit: number;
    /** Milliseconds; 0 disables. */
    readonly statementTimeout: number;
    /** Connections all workers may hold; undefined: derived from the server's max_connections at start. */
    readonly maxConnections: number | undefined;
    /** Milliseconds an idle pool connection stays open. */
    readonly idleTimeout: number;
    /** Absolute path of the credentials secret file. */
    readonly secretFile: string;
  };
  /** Absolute path of the application module. */
  readonly app: string;
  readonly migrations: {
    /** Absolute folder paths. */
    readonly shared: string;
    readonly tenant: string;
    readonly concurrency: number;
  };
  /** The public site, if configured. */
  readonly public: Site | undefined;
  readonly workers: {
    /** Default min of every site. */
    readonly min: number;
    /** Default max of every site. */
    readonly max: number;
    /** Milliseconds a worker beyond min may stay idle. */
    readonly idleTimeout: number;
    /** Live workers at most, on this machine. */
    readonly maxLive: number;
    /** Port range for workers; undefined: any free port. */
    readonly ports: { readonly from: number; readonly to: number } | undefined;
    /** Workers starting at once. */
    readonly startConcurrency: number;
    /** Milliseconds. */
    readonly startTimeout: number;
    /** Milliseconds. */
    readonly stopTimeout: number;
  };
  readonly router: {
    /** Bytes. */
    readonly bodyLimit: number;
    /** Milliseconds. */
    readonly queueTimeout: number;
    /** Milliseconds. */
    readonly upstreamTimeout: number;
    /** Bytes. */
    readonly maxHeaderSize: number;
    /** Milliseconds. */
    readonly headersTimeout: number;
    /** Milliseconds. */
    readonly requestTimeout: number;
    /** Milliseconds. */
    readonly keepAliveTimeout: number;
    readonly maxConnections: number;
    /** 0: no limit. */
    readonly maxConnectionsPerClient: number;
    /** Hand client connections to workers; false: proxy every request. */
    readonly handoff: boolean;
  };
  readonly log: {
    readonly level: string;
    readonly access: boolean;
  };
  readonly tenants: readonly Site[];
  /** Absolute folder, if set. */
  readonly tenantsDir: string | undefined;
}
