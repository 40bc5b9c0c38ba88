// The registry of errors tenantd reports: each is a class with a code, a message
// that says what to do, and the HTTP status the admin API answers with.
import { retryAfterSeconds } from './retry-after.ts';
import { schemaNamePattern } from './schema-name.ts';

export class TenantdError extends Error {
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, message: string, statusCode = 500, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'TenantdError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/**
 * What a tenant application sees when its database cannot be reached (server
 * down or restarting, connection closed, credentials refused, too many
 * connections): answer 503 with Retry-After, as the worker does for an error
 * the application lets through. The pool recovers by itself.
 */
export class DatabaseUnavailableError extends TenantdError {
  static readonly code = 'TENANTD_DATABASE_UNAVAILABLE';
  static readonly statusCode = 503;
  static revive(message: string): TenantdError {
    return new DatabaseUnavailableError(message.replace(/^TENANTD_DATABASE_UNAVAILABLE: the database cannot be reached: /, ''));
  }

  /** Seconds a client should wait before trying again. */
  readonly retryAfter = retryAfterSeconds;
  /** PostgreSQL's SQLSTATE, when the server said why (53300: the role's connection limit). */
  readonly sqlState: string | undefined;
  constructor(reason: string, options?: { cause?: unknown; sqlState?: string | undefined }) {
    super('TENANTD_DATABASE_UNAVAILABLE', `the database cannot be reached: ${reason}`, 503, options);
    this.name = 'DatabaseUnavailableError';
    this.sqlState = options?.sqlState;
  }

  /**
   * By code, not by prototype: a worker's runtime and its application are
   * bundled apart, and each bundle has its own copy of this class.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return (value as { code?: unknown } | null)?.code === 'TENANTD_DATABASE_UNAVAILABLE';
  }
}

/** One entry of the registry: a constructor with its code and HTTP status. */
export interface ErrorClass<A extends unknown[]> {
  new (...args: A): TenantdError;
  readonly code: string;
  readonly statusCode: number;
  /** The same error from its message alone: one that crossed a thread or process boundary. */
  revive(message: string): TenantdError;
}

function define<A extends unknown[]>(code: string, statusCode: number, format: (...args: A) => string): ErrorClass<A> {
  class Defined extends TenantdError {
    static readonly code = code;
    static readonly statusCode = statusCode;
    constructor(...args: A) {
      super(code, format(...args), statusCode);
    }

    static revive(message: string): TenantdError {
      return Reflect.construct(TenantdError, [code, message, statusCode], Defined) as TenantdError;
    }
  }
  return Defined;
}

/**
 * Every error tenantd reports, by name: `throw new errors.ConfigInvalid(lines)`,
 * `error instanceof errors.ConfigInvalid`, or `error.code`. The admin API
 * answers with an error's statusCode.
 */
export const errors = {
  ConfigInvalid: define('TENANTD_CONFIG_INVALID', 422, (lines: string[]) =>
    lines.length === 1 ? lines[0]! : `${lines.length} problems\n  ${lines.join('\n  ')}`),
  ConfigUnreadable: define('TENANTD_CONFIG_UNREADABLE', 422, (file: string, reason: string) =>
    `cannot read ${file}: ${reason}`),
  Usage: define('TENANTD_USAGE', 400, (message: string) => `${message} (see --help)`),
  SchemaName: define('TENANTD_SCHEMA_NAME', 400, (name: string) =>
    `"${name}" is not a tenant schema name: expected ${schemaNamePattern}, not pg_*, not public`),
  DatabaseUnreachable: define('TENANTD_DATABASE_UNREACHABLE', 503, (target: string, reason: string) =>
    `cannot connect to ${target}: ${reason}`),
  /** Thrown to an application by a query while the database cannot be reached. */
  DatabaseUnavailable: DatabaseUnavailableError,
  EmbeddedFailed: define('TENANTD_EMBEDDED_FAILED', 500, (reason: string) =>
    `the embedded PostgreSQL did not start: ${reason}`),
  RoleForeign: define('TENANTD_ROLE_FOREIGN', 409, (role: string) =>
    `role ${role} exists but was not created by this tenantd database; choose another database.rolePrefix`),
  TenantInConfig: define('TENANTD_TENANT_IN_CONFIG', 409, (schema: string) =>
    `tenant ${schema} is still in the config; remove it and reload before dropping its data`),
  TenantUnknown: define('TENANTD_TENANT_UNKNOWN', 404, (schema: string) =>
    `no tenant ${schema} in the registry`),
  CertificateInvalid: define('TENANTD_CERTIFICATE_INVALID', 422, (file: string, reason: string) =>
    `tls.certificates: ${file}: ${reason}`),
  AcmeCaRootInvalid: define('TENANTD_ACME_CA_ROOT_INVALID', 422, (file: string, reason: string) =>
    `tls.acme.caRoot: ${file}: ${reason}`),
  AcmeOff: define('TENANTD_ACME_OFF', 409, () =>
    'the running service orders no certificates: its config has no tls.acme'),
  AcmeHostUnknown: define('TENANTD_ACME_HOST_UNKNOWN', 404, (host: string) =>
    `${host} is not a host ACME keeps certified (a configured host that no certificate file covers, not a wildcard, not in tls.acme.except)`),
  CloneFailed: define('TENANTD_CLONE_FAILED', 422, (reason: string) =>
    `the running service did not clone: ${reason}`),
  RestartFailed: define('TENANTD_RESTART_FAILED', 503, (schema: string, reason: string) =>
    `tenant ${schema}'s workers could not restart (${reason}); the old ones serve`),
  ServiceUnreachable: define('TENANTD_SERVICE_UNREACHABLE', 503, (address: string, reason: string) =>
    `cannot reach the running service's admin API at ${address}: ${reason}; is tenantd serve running with this config?`),
  ListenFailed: define('TENANTD_LISTEN_FAILED', 500, (what: string, address: string, reason: string) =>
    `cannot listen on ${address} for the ${what}: ${reason}; is another process using it? (config key ${what === 'router' ? 'listen' : what === 'TLS listener' ? 'tls.listen' : 'admin'})`),
  BuildFailed: define('TENANTD_BUILD_FAILED', 422, (file: string, reason: string) =>
    `cannot compile ${file}: ${reason}`),
  WrongUser: define('TENANTD_WRONG_USER', 403, (folder: string, owner: string) =>
    `the data folder ${folder} belongs to user ${owner}; run tenantd as that user (sudo -u ${owner} tenantd …)`),
  AdminUnauthorized: define('TENANTD_ADMIN_UNAUTHORIZED', 401, (address: string) =>
    `the admin API at ${address} refused the request: set TENANTD_ADMIN_TOKEN (or adminToken in the config) to its token`),
  PortsExhausted: define('TENANTD_PORTS_EXHAUSTED', 503, (size: number, from: number, to: number) =>
    `all ${size} ports of workers.ports (${from}-${to}) are in use; widen the range`),
  Stopping: define('TENANTD_STOPPING', 503, () => 'the service is shutting down'),
  CopyRefused: define('TENANTD_COPY_REFUSED', 422, (reason: string) => `cannot copy: ${reason}`),
  CopyDrift: define('TENANTD_COPY_DRIFT', 409, (schema: string, drift: string) =>
    `${schema} does not have the structure of the copy's source: ${drift}; nothing was changed`),
  CopyMismatch: define('TENANTD_COPY_MISMATCH', 500, (what: string) =>
    `the copy does not match its source: ${what}; nothing was changed`),
  BackupInvalid: define('TENANTD_BACKUP_INVALID', 422, (file: string, reason: string) =>
    `${file} is not a usable tenantd backup: ${reason}; nothing was changed`),
  BackupMigrations: define('TENANTD_BACKUP_MIGRATIONS', 409, (schema: string, names: string) =>
    `the copy of ${schema} has migrations the application does not: ${names}; restore it with the application that wrote it`),
  SchemaExists: define('TENANTD_SCHEMA_EXISTS', 409, (schema: string) =>
    `schema ${schema} already exists with tables; import makes a new tenant (restore --tenant replaces an existing one)`),
  DatabaseNotEmpty: define('TENANTD_DATABASE_NOT_EMPTY', 409, (what: string) =>
    `the database is not empty (${what}); restore a whole backup into an empty database, or one tenant with --tenant`),
  ReloadFailed: define('TENANTD_RELOAD_FAILED', 500, (reason: string) => `the reload failed: ${reason}`),
  ServerUnknown: define('TENANTD_SERVER_UNKNOWN', 404, (name: string, known: string) =>
    `no database server ${name}: expected one of ${known}`),
  MoveRefused: define('TENANTD_MOVE_REFUSED', 409, (schema: string, reason: string) =>
    `cannot move ${schema}: ${reason}; nothing was changed`),
  MoveFailed: define('TENANTD_MOVE_FAILED', 500, (schema: string, phase: string, reason: string) =>
    `the move of ${schema} failed while ${phase}: ${reason}; it is served from where it was`),
};

/** The registry's entry for `code`, if it has one. */
export function errorClassOf(code: string): ErrorClass<never[]> | undefined {
  return Object.values(errors).find((entry) => entry.code === code) as ErrorClass<never[]> | undefined;
}
