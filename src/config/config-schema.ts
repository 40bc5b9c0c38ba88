// The shape of tenantd.yaml: every key, its default and what it expects.
// Validation happens once, in load-config.ts; everything after gets `Config`.
import net from 'node:net';
import { z } from 'zod';
import { isTenantSchemaName, rolePrefixPattern, schemaNamePattern } from '../base/schema-name.ts';

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

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Milliseconds: a number, or a string such as "500ms", "30s", "5m", "7d". */
export const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((raw, ctx) => {
  if (typeof raw === 'number') return raw;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(raw.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a duration: expected milliseconds or a number with ms, s, m, h or d` });
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

const serverNamePattern = /^[a-z][a-z0-9_]{0,30}$/;
/** The name of a database server (`default`, or a key of `databases`). */
export const serverName = z.string().regex(serverNamePattern, `expected ${serverNamePattern.source}`);

export const tenantSchema = z.object({
  schema: schemaName.describe("The PostgreSQL schema that holds the tenant's data; also its identity."),
  name: z.string().min(1).optional().describe("Display name; defaults to the schema."),
  hosts: z.array(hostName).min(1, 'expected at least one host').describe("Host names routed to this tenant."),
  settings: settings.describe("Free-form, handed to the application as ctx.tenant.settings."),
  min: z.number().int().min(0).max(64).optional().describe("Workers always running for this tenant; default workers.min."),
  max: z.number().int().min(1).max(64).optional().describe("Most workers for this tenant when busy; default workers.max (at least min)."),
  processes: z.number().int().min(1).max(64).optional().describe("The former key: `processes: N` is `min: N, max: N`."),
  allowTrace: z.boolean().default(false).describe("Pass TRACE requests to the application; otherwise tenantd answers them 405, as nginx does."),
  database: serverName.optional().describe("The database server (a name in `databases`, or `default`) a new tenant is placed on. Once placed, the registry says where it lives: `tenantd tenants move` moves it."),
}).strict();

export const configSchema = z.object({
  listen: address.default('0.0.0.0:8080').describe("Router address: host:port, [v6]:port, :port (all interfaces) or a port."),
  admin: address.default('127.0.0.1:9080').describe("Admin API address (keep it on loopback)."),
  adminToken: z.string().min(16, 'expected at least 16 characters').optional().describe("Bearer token the admin API requires; TENANTD_ADMIN_TOKEN overrides it. Default: none."),
  database: z.object({
    url: z.string().url().optional().describe("Admin connection URL; TENANTD_DATABASE_URL overrides it; none = embedded PostgreSQL."),
    dataDir: z.string().optional().describe("Embedded PostgreSQL data directory, relative to the config file's folder. Default: data/ beside the config file."),
    port: z.number().int().min(1).max(65535).optional().describe("Embedded PostgreSQL port; default: a free port chosen at first start."),
    poolSize: z.number().int().min(1).max(100).default(5).describe("Connections per worker pool."),
    rolePrefix: z.string().regex(new RegExp(rolePrefixPattern), `expected ${rolePrefixPattern}`).optional().describe("Prefix of the tenant roles' names. Default: derived from the database name."),
    connectionLimit: z.number().int().min(1).default(20).describe("Most connections one tenant role may hold (CONNECTION LIMIT)."),
    statementTimeout: duration.default('30s').describe("statement_timeout of tenant connections; 0 disables."),
    maxConnections: z.number().int().min(1).optional().describe("Connections all workers together may hold; live workers are capped at this / poolSize. Default: 80% of the server's max_connections less its reserve and 10."),
    idleTimeout: duration.default('30s').describe("A worker's idle database connection closes after this."),
    secretFile: z.string().optional().describe("File of the secret tenant passwords derive from (one per line; the first is set). Default: credentials.secret in dataDir, made at first start. Nodes on one database share it."),
  }).strict().default({}).describe("The default PostgreSQL server (named `default`) and the tenants' connections to every server."),
  databases: z.record(serverName, z.object({
    url: z.string().url().optional().describe("Admin connection URL of this server (CREATEROLE, owns the database)."),
    dataDir: z.string().optional().describe("Without url: an embedded PostgreSQL with this data directory, relative to the config file's folder."),
    port: z.number().int().min(1).max(65535).optional().describe("The embedded server's port; default: a free port chosen at first start."),
  }).strict()).default({}).describe("Further PostgreSQL servers by name, beside `default` (the `database` section): each a URL, or an embedded server with a dataDir of its own. Tenants are placed on one (their `database`, else `placement`) and moved with `tenantd tenants move`."),
  placement: z.enum(['default', 'fewest']).default('default').describe("Where a new tenant whose entry names no `database` goes: default, or the server with the fewest tenants."),
  app: z.string().optional().describe("The tenant application module (.ts or .js). Default: the bundled demo."),
  migrations: z.object({
    shared: z.string().optional().describe("Folder of the shared migrations (public schema, run as the admin role). Default: migrations/shared beside the app module."),
    tenant: z.string().optional().describe("Folder of the tenant migrations (each tenant's schema, run as its role). Default: migrations/tenant beside the app module."),
    concurrency: z.number().int().min(1).max(64).default(4).describe("Tenants migrated at once by serve and migrate."),
  }).strict().default({}).describe("Migration folders; default migrations/shared and migrations/tenant beside the app module."),
  public: z.object({
    name: z.string().min(1).default('Public site').describe("Display name."),
    hosts: z.array(hostName).min(1, 'expected at least one host').describe("Host names routed to the public site."),
    settings: settings.describe("Free-form, handed to the application as ctx.tenant.settings."),
    allowTrace: z.boolean().default(false).describe("Pass TRACE requests to the application; otherwise tenantd answers them 405."),
  }).strict().optional().describe("The public site, served with search_path=public."),
  workers: z.object({
    min: z.number().int().min(0).max(64).optional().describe("Workers always running per tenant; 0: started by the first request. Default 1."),
    max: z.number().int().min(1).max(64).optional().describe("Most workers per tenant: another starts while all are busy. Default 1 (at least min)."),
    processes: z.number().int().min(1).max(64).optional().describe("The former key: `processes: N` is `min: N, max: N`."),
    idleTimeout: duration.default('10m').describe("A worker beyond min that served nothing for this long stops."),
    maxLive: z.number().int().min(1).optional().describe("Live workers on this machine at most; then the least recently used idle one of another tenant stops. Default: what the memory fits."),
    ports: z.string().transform((raw, ctx) => {
      const match = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(raw.trim());
      const from = Number(match?.[1]);
      const to = Number(match?.[2]);
      if (!match || from < 1024 || to > 65535 || from > to) {
        ctx.addIssue({ code: 'custom', message: `"${raw}" is not a port range: expected "from-to" within 1024-65535, such as "20000-20999"` });
        return z.NEVER;
      }
      return { from, to };
    }).optional().describe("Loopback ports for workers, \"from-to\"; default: any free port."),
    startConcurrency: z.number().int().min(1).max(256).optional().describe("Workers starting at once, at boot, on reload and on demand. Default: the number of cores."),
    startTimeout: duration.default('30s').describe("How long a worker may take to report ready, counted from its own start (not its wait for a turn)."),
    stopTimeout: duration.default('10s').describe("How long a worker may take to drain and exit before SIGKILL."),
  }).strict().default({}).describe("The worker processes of every site."),
  router: z.object({
    bodyLimit: size.default('1m').describe("Largest request body. As nginx's client_max_body_size."),
    queueTimeout: duration.default('10s').describe("How long a request waits for a worker that is not ready yet."),
    upstreamTimeout: duration.default('60s').describe("How long a worker may take to answer. As nginx's proxy_read_timeout."),
    maxHeaderSize: size.default('16k').describe("Largest request head (request line and headers); 431 above."),
    maxHeaderLineSize: size.default('8k').describe("Largest single header line (name and value); 431 above, 414 for a longer request line. As nginx's large_client_header_buffers."),
    headersTimeout: duration.default('60s').describe("A client must send its whole head within this; 408 after. As nginx's client_header_timeout."),
    requestTimeout: duration.default('300s').describe("A client must send its whole request within this; 408 after."),
    keepAliveTimeout: duration.default('75s').describe("An idle client connection is closed after this. As nginx's keepalive_timeout."),
    maxConnections: z.number().int().min(1).default(10_000).describe("Client connections open at once. When full, a new client takes the place of a connection of the client that holds the most."),
    maxConnectionsPerClient: z.number().int().min(0).default(1000).describe("Client connections one client address may hold; more are refused; 0 = no limit (behind a proxy that is every client)."),
    trustedProxies: z.array(z.string().transform((raw, ctx) => {
      const match = /^([0-9a-f:.]+)(?:\/(\d{1,3}))?$/i.exec(raw.trim());
      const family = match ? net.isIP(match[1]!) : 0;
      const bits = match?.[2] === undefined ? (family === 4 ? 32 : 128) : Number(match[2]);
      if (!match || family === 0 || bits > (family === 4 ? 32 : 128)) {
        ctx.addIssue({ code: 'custom', message: `"${raw}" is not an address or a network: expected such as 10.0.0.5, 10.0.0.0/8 or fd00::/8` });
        return z.NEVER;
      }
      return { address: match[1]!, bits, family: family === 4 ? 'ipv4' as const : 'ipv6' as const };
    })).default([]).describe("Fronts (load balancers, proxies) whose connections carry many clients: from these only, a PROXY protocol header (v1, v2) is read for the client's address, and their X-Forwarded-For and -Proto are kept and appended to (from anyone else they are replaced). A front's HTTP connection is served request by request, whichever tenant each names, and is held to maxConnections only."),
    handoff: z.boolean().default(true).describe("Hand a client connection to its tenant's worker after its first request head, so later requests skip the router; false proxies every request."),
  }).strict().default({}).describe("The router: limits on client connections and requests."),
  tls: z.object({
    listen: address.describe("The HTTPS listener's address, beside the plain `listen`, such as 0.0.0.0:443."),
    certificates: z.array(z.object({
      cert: z.string().describe("PEM file of the certificate and its chain, relative to the config file's folder."),
      key: z.string().describe("PEM file of its private key."),
    }).strict()).default([]).describe("Certificates from files, each matched to hosts by its subjectAltName names (wildcards included). A host none covers gets no HTTPS: its handshake is refused."),
    defaultTenant: schemaName.optional().describe("The tenant whose certificate answers a client that names no host, or a host no tenant has. Default: none (an unrecognized_name alert)."),
    handshakeTimeout: duration.default('10s').describe("A client must send its ClientHello, then finish its handshake, within this."),
    ticketRotation: duration.default('12h').describe("Session ticket keys (per tenant, the same on every node) change this often."),
    redirect: z.boolean().default(true).describe("Plain HTTP to a host that has a certificate gets 308 to https:// (but /.well-known/acme-challenge/, and requests a trusted front says came over HTTPS)."),
    redirectExcept: z.array(schemaName).default([]).describe("Tenants whose hosts are never redirected to HTTPS (the per-site opt-out)."),
    publicPort: z.number().int().min(1).max(65535).optional().describe("The HTTPS port clients use, for the redirect's Location. Default: tls.listen's port."),
    hsts: duration.default(0).describe("With a duration, responses over HTTPS carry Strict-Transport-Security: max-age of it (such as 365d); 0: none."),
    acme: z.object({
      directory: z.string().url().default('https://acme-v02.api.letsencrypt.org/directory').describe("The ACME CA's directory URL. Default: Let's Encrypt."),
      email: z.string().email().optional().describe("The account's contact address (the CA writes about expiring certificates and problems)."),
      eab: z.object({
        kid: z.string().min(1).describe("The key identifier the CA gave."),
        hmacKey: z.string().min(1).describe("The MAC key the CA gave (base64url)."),
      }).strict().optional().describe("External account binding, for CAs that require one (ZeroSSL, Google, most private CAs)."),
      caRoot: z.string().optional().describe("A PEM file of CA certificates to trust for the directory's HTTPS (a private or test CA), relative to the config file's folder. Default: Node's bundled roots."),
      challenges: z.array(z.enum(['http-01', 'tls-alpn-01'])).min(1).default(['http-01']).describe("The challenge types offered to the CA, in order of preference: http-01 (the CA fetches a token from the plain listener, port 80), tls-alpn-01 (the CA connects to the TLS listener, port 443)."),
      ordersPerHour: z.number().int().min(1).default(20).describe("At most this many orders start in any hour, across the nodes on the database: a config mistake cannot burn the CA's limits."),
      except: z.array(schemaName).default([]).describe("Tenants whose hosts get no certificate by ACME."),
    }).strict().optional().describe("Certificates by ACME (RFC 8555, HTTP-01 on the plain listener) for every host no file covers, kept in the database for every node; renewed at two thirds of their life."),
  }).strict().optional().describe("HTTPS, terminated in each tenant's workers with that tenant's certificates."),
  moves: z.object({
    keepSource: duration.default('7d').describe("How long the fenced copy a finished move leaves on its source server is kept before the service drops it; tenants drop <schema> --from <server> drops it at once; 0: kept until then."),
  }).strict().default({}).describe("Moves of tenants between database servers (tenants move)."),
  backup: z.object({
    keepReplaced: duration.default('7d').describe("How long a tenant's data replaced by `restore --tenant` is kept (as <schema>$replaced$<time>) before the service drops it; restore --cleanup drops it at once."),
  }).strict().default({}).describe("Backups and restores."),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe("pino level."),
    access: z.boolean().default(true).describe("Write one line per request."),
    format: z.enum(['auto', 'json', 'pretty']).default('auto').describe("auto: readable lines (time, level, tenant, message, in colour) when stdout is a terminal, JSON lines otherwise (journald, files); json or pretty: always that."),
  }).strict().default({}).describe("Logging on stdout."),
  tenants: z.array(tenantSchema).default([]).describe("The tenants, one entry each."),
  tenantsDir: z.string().optional().describe("A folder whose *.yaml files are one tenant each."),
}).strict();

export type RawConfig = z.output<typeof configSchema>;
export type RawTenant = z.output<typeof tenantSchema>;
