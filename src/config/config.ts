// The validated, defaulted, frozen config that every part of tenantd receives.
// Its shape is inferred from the zod schema (config-schema.ts), where every key,
// default and unit is declared once; only what the loader resolves (absolute
// paths, defaults that depend on the machine, each site's worker bounds) is
// written here.
import type { z } from 'zod';
import type { configSchema, tenantSchema } from './config-schema.ts';

type Raw = z.output<typeof configSchema>;
type RawTenant = z.output<typeof tenantSchema>;

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
  : T;

/** One site: a tenant, or the public site (schema `public`), with its worker bounds resolved. */
export type Site = DeepReadonly<Pick<RawTenant, 'schema' | 'hosts' | 'settings' | 'allowTrace'> & {
  /** The server the entry asks for (a new tenant is placed there); undefined: the placement rule. */
  database?: string | undefined;
  /** Display name: the configured one, else the schema. */
  name: string;
  /** Workers always running (0: none until a request comes). */
  min: number;
  /** Most workers when all are busy (≥ min, ≥ 1). */
  max: number;
}>;

export type Address = Raw['listen'];

/** One PostgreSQL server tenants are placed on: by URL, or embedded in its own dataDir. */
export interface DatabaseServer {
  readonly name: string;
  /** Admin URL; undefined: the embedded PostgreSQL in dataDir. */
  readonly url: string | undefined;
  /** Absolute. */
  readonly dataDir: string;
  readonly port: number | undefined;
}

export type Config = DeepReadonly<{
  /** Absolute path of the main config file. */
  file: string;
  listen: Raw['listen'];
  admin: Raw['admin'];
  /** The config's adminToken, or TENANTD_ADMIN_TOKEN. */
  adminToken: string | undefined;
  database: Omit<Raw['database'], 'url' | 'dataDir' | 'secretFile'> & {
    /** TENANTD_DATABASE_URL, else the config's; undefined: the embedded PostgreSQL. */
    url: string | undefined;
    /** Absolute. */
    dataDir: string;
    /** Absolute. */
    secretFile: string;
  };
  /** Every database server, `default` (the database section's) first. */
  databases: DatabaseServer[];
  placement: Raw['placement'];
  /** Absolute path of the application module. */
  app: string;
  /** Absolute folders. */
  migrations: { shared: string; tenant: string; concurrency: number };
  /** The public site, if configured. */
  public: Site | undefined;
  workers: Omit<Raw['workers'], 'processes' | 'min' | 'max' | 'maxLive' | 'startConcurrency'> & {
    /** Default min of every site. */
    min: number;
    /** Default max of every site. */
    max: number;
    /** The configured one, else what the memory fits. */
    maxLive: number;
    /** The configured one, else the number of cores. */
    startConcurrency: number;
  };
  router: Raw['router'];
  /** HTTPS, if configured; certificate paths absolute. */
  tls: NonNullable<Raw['tls']> | undefined;
  backup: Raw['backup'];
  moves: Raw['moves'];
  log: Raw['log'];
  tenants: Site[];
  /** Absolute folder, if set. */
  tenantsDir: string | undefined;
}>;
