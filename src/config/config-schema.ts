// The shape of tenantd.yaml: every key, its default and what it expects.
// Validation happens once, in load-config.ts; everything after gets `Config`.
import os from 'node:os';
import { z } from 'zod';
import { schemaNamePattern, isTenantSchemaName } from '../db/schema-name.ts';

const hostPattern = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A host name or `*.suffix` wildcard, lower-cased, one trailing dot dropped. */
export const hostName = z.string().transform((raw, ctx) => {
  const host = raw.toLowerCase().replace(/\.$/, '');
  if (host.length > 253 || !hostPattern.test(host) || host === '*') {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a host name (letters, digits, hyphens, dots; "*." only as a prefix; no port)` });
    return z.NEVER;
  }
  return host;
});

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Milliseconds: a number, or a string such as "500ms", "30s", "5m". */
export const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((raw, ctx) => {
  if (typeof raw === 'number') return raw;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(raw.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a duration: expected milliseconds or a number with ms, s, m or h` });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * durationUnits[match[2]!]!);
});

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };
/** Bytes: a number, or a string such as "512k", "1m", "10mb" (binary units, as nginx). */
export const size = z.union([z.number().int().nonnegative(), z.string()]).transform((raw, ctx) => {
  if (typeof raw === 'number') return raw;
  const match = /^(\d+)\s*([kmg]?b?)$/i.exec(raw.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a size: expected bytes or a number with k, m or g` });
    return z.NEVER;
  }
  return Number(match[1]) * sizeUnits[match[2]!.toLowerCase()]!;
});

/** `host:port`, `[v6]:port`, `:port` (all interfaces) or a bare port. */
export const address = z.union([z.number().int(), z.string()]).transform((raw, ctx) => {
  const text = String(raw).trim();
  const match = /^(?:(\[[0-9a-f:.]+\]|[^:\s[\]]*):)?(\d{1,5})$/i.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an address: expected host:port, such as 127.0.0.1:9080` });
    return z.NEVER;
  }
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port };
});

export const schemaName = z.string().refine(isTenantSchemaName, (value) => ({
  message: `"${value}" is not a tenant schema name: expected ${schemaNamePattern}, not pg_*, not public`,
}));

const settings = z.record(z.unknown()).default({});

export const tenantSchema = z.object({
  /** The PostgreSQL schema that holds the tenant's data; also its identity. */
  schema: schemaName,
  /** Display name; defaults to the schema. */
  name: z.string().min(1).optional(),
  /** Host names routed to this tenant. */
  hosts: z.array(hostName).min(1, 'expected at least one host'),
  /** Free-form, handed to the application as ctx.tenant.settings. */
  settings,
  /** Workers always running for this tenant; default workers.min. */
  min: z.number().int().min(0).max(64).optional(),
  /** Most workers for this tenant when busy; default workers.max (at least min). */
  max: z.number().int().min(1).max(64).optional(),
  /** The former key: `processes: N` is `min: N, max: N`. */
  processes: z.number().int().min(1).max(64).optional(),
}).strict();

export const configSchema = z.object({
  /** Router address. Default 0.0.0.0:8080. */
  listen: address.default('0.0.0.0:8080'),
  /** Admin API address. Default 127.0.0.1:9080 (loopback). */
  admin: address.default('127.0.0.1:9080'),
  /** Bearer token the admin API requires; TENANTD_ADMIN_TOKEN overrides it. Default: none. */
  adminToken: z.string().min(16, 'expected at least 16 characters').optional(),
  database: z.object({
    /** Admin connection URL; TENANTD_DATABASE_URL overrides it; none = embedded PostgreSQL. */
    url: z.string().url().optional(),
    /** Embedded PostgreSQL data directory. Default data/ beside the config's project (see load-config). */
    dataDir: z.string().optional(),
    /** Embedded PostgreSQL port; default: a free port chosen at first start. */
    port: z.number().int().min(1).max(65535).optional(),
    /** Connections per worker pool. Default 5. */
    poolSize: z.number().int().min(1).max(100).default(5),
    /** Prefix of the tenant roles' names. Default: derived from the database name. */
    rolePrefix: z.string().regex(/^[a-z][a-z0-9_]{0,13}$/, 'expected ^[a-z][a-z0-9_]{0,13}$').optional(),
    /** Most connections one tenant role may hold (CONNECTION LIMIT). Default 20. */
    connectionLimit: z.number().int().min(1).default(20),
    /** statement_timeout of tenant connections. Default 30s; 0 disables. */
    statementTimeout: duration.default('30s'),
    /** Connections all workers together may hold; live workers are capped at this / poolSize. Default: 80% of the server's max_connections less its reserve and 10. */
    maxConnections: z.number().int().min(1).optional(),
    /** A worker's idle database connection closes after this. Default 30s. */
    idleTimeout: duration.default('30s'),
    /** File of the secret tenant passwords derive from (one per line; the first is set). Default: credentials.secret in dataDir, made at first start. Nodes on one database share it. */
    secretFile: z.string().optional(),
  }).strict().default({}),
  /** The tenant application module (.ts or .js). Default: the bundled demo. */
  app: z.string().optional(),
  /** Migration folders; default migrations/shared and migrations/tenant beside the app module. */
  migrations: z.object({
    shared: z.string().optional(),
    tenant: z.string().optional(),
    /** Tenants migrated at once by serve and migrate. Default 4. */
    concurrency: z.number().int().min(1).max(64).default(4),
  }).strict().default({}),
  /** The public site, served with search_path=public. */
  public: z.object({
    name: z.string().min(1).default('Public site'),
    hosts: z.array(hostName).min(1, 'expected at least one host'),
    settings,
  }).strict().optional(),
  workers: z.object({
    /** Workers always running per tenant; 0: started by the first request. Default 1. */
    min: z.number().int().min(0).max(64).optional(),
    /** Most workers per tenant: another starts while all are busy. Default 1 (at least min). */
    max: z.number().int().min(1).max(64).optional(),
    /** The former key: `processes: N` is `min: N, max: N`. */
    processes: z.number().int().min(1).max(64).optional(),
    /** A worker beyond min that served nothing for this long stops. Default 10m. */
    idleTimeout: duration.default('10m'),
    /** Live workers on this machine at most; then the least recently used idle one of another tenant stops. Default: what the memory fits. */
    maxLive: z.number().int().min(1).optional(),
    /** Loopback ports for workers, "from-to"; default: any free port. */
    ports: z.string().transform((raw, ctx) => {
      const match = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(raw.trim());
      const from = Number(match?.[1]);
      const to = Number(match?.[2]);
      if (!match || from < 1024 || to > 65535 || from > to) {
        ctx.addIssue({ code: 'custom', message: `"${raw}" is not a port range: expected "from-to" within 1024-65535, such as "20000-20999"` });
        return z.NEVER;
      }
      return { from, to };
    }).optional(),
    /** Workers starting at once, at boot, on reload and on demand. Default: the number of cores. */
    startConcurrency: z.number().int().min(1).max(256).default(os.availableParallelism()),
    /** How long a worker may take to report ready, counted from its own start (not its wait for a turn). Default 30s. */
    startTimeout: duration.default('30s'),
    /** How long a worker may take to drain and exit before SIGKILL. Default 10s. */
    stopTimeout: duration.default('10s'),
  }).strict().default({}),
  router: z.object({
    /** Largest request body. Default 1m (nginx's client_max_body_size). */
    bodyLimit: size.default('1m'),
    /** How long a request waits for a worker that is not ready yet. Default 10s. */
    queueTimeout: duration.default('10s'),
    /** How long a worker may take to answer. Default 60s (nginx's proxy_read_timeout). */
    upstreamTimeout: duration.default('60s'),
    /** Largest request head (request line and headers); 431 above. Default 16k. Applies at restart. */
    maxHeaderSize: size.default('16k'),
    /** A client must send its whole head within this; 408 after. Default 60s (nginx's client_header_timeout). */
    headersTimeout: duration.default('60s'),
    /** A client must send its whole request within this; 408 after. Default 300s. */
    requestTimeout: duration.default('300s'),
    /** An idle client connection is closed after this. Default 75s (nginx's keepalive_timeout). */
    keepAliveTimeout: duration.default('75s'),
    /** Client connections open at once. Default 10000. When full, a new client takes the place of a connection of the client that holds the most. */
    maxConnections: z.number().int().min(1).default(10_000),
    /** Client connections one client address may hold; more are refused. Default 1000; 0 = no limit (behind a proxy that is every client). */
    maxConnectionsPerClient: z.number().int().min(0).default(1000),
    /** Hand a client connection to its tenant's worker after its first request head, so later requests skip the router. Default true; false proxies every request. */
    handoff: z.boolean().default(true),
  }).strict().default({}),
  log: z.object({
    /** pino level. Default info. */
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Write one line per request. Default true. */
    access: z.boolean().default(true),
  }).strict().default({}),
  tenants: z.array(tenantSchema).default([]),
  /** A folder whose *.yaml files are one tenant each. */
  tenantsDir: z.string().optional(),
}).strict();

export type RawConfig = z.output<typeof configSchema>;
export type RawTenant = z.output<typeof tenantSchema>;
