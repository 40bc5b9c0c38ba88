// The registry of errors a user can cause: each has a code, a message that says
// what to do, and the HTTP status the admin API answers with.

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
  /** Seconds a client should wait before trying again. */
  readonly retryAfter = 5;
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

function define<A extends unknown[]>(code: string, statusCode: number, format: (...args: A) => string) {
  return (...args: A) => new TenantdError(code, format(...args), statusCode);
}

export const errors = {
  configInvalid: define('TENANTD_CONFIG_INVALID', 422, (lines: string[]) =>
    lines.length === 1 ? lines[0]! : `${lines.length} problems\n  ${lines.join('\n  ')}`),
  configUnreadable: define('TENANTD_CONFIG_UNREADABLE', 422, (file: string, reason: string) =>
    `cannot read ${file}: ${reason}`),
  usage: define('TENANTD_USAGE', 400, (message: string) => `${message} (see --help)`),
  schemaName: define('TENANTD_SCHEMA_NAME', 400, (name: string) =>
    `"${name}" is not a tenant schema name: expected ^[a-z][a-z0-9_]{0,47}$, not pg_*, not public`),
  databaseUnreachable: define('TENANTD_DATABASE_UNREACHABLE', 503, (target: string, reason: string) =>
    `cannot connect to ${target}: ${reason}`),
  embeddedFailed: define('TENANTD_EMBEDDED_FAILED', 500, (reason: string) =>
    `the embedded PostgreSQL did not start: ${reason}`),
  roleForeign: define('TENANTD_ROLE_FOREIGN', 409, (role: string) =>
    `role ${role} exists but was not created by this tenantd database; choose another database.rolePrefix`),
  tenantInConfig: define('TENANTD_TENANT_IN_CONFIG', 409, (schema: string) =>
    `tenant ${schema} is still in the config; remove it and reload before dropping its data`),
  tenantUnknown: define('TENANTD_TENANT_UNKNOWN', 404, (schema: string) =>
    `no tenant ${schema} in the registry`),
  serviceUnreachable: define('TENANTD_SERVICE_UNREACHABLE', 503, (address: string, reason: string) =>
    `cannot reach the running service's admin API at ${address}: ${reason}; is tenantd serve running with this config?`),
  listenFailed: define('TENANTD_LISTEN_FAILED', 500, (what: string, address: string, reason: string) =>
    `cannot listen on ${address} for the ${what}: ${reason}; is another process using it? (config key ${what === 'router' ? 'listen' : 'admin'})`),
  buildFailed: define('TENANTD_BUILD_FAILED', 422, (file: string, reason: string) =>
    `cannot compile ${file}: ${reason}`),
  wrongUser: define('TENANTD_WRONG_USER', 403, (folder: string, owner: string) =>
    `the data folder ${folder} belongs to user ${owner}; run tenantd as that user (sudo -u ${owner} tenantd …)`),
  adminUnauthorized: define('TENANTD_ADMIN_UNAUTHORIZED', 401, (address: string) =>
    `the admin API at ${address} refused the request: set TENANTD_ADMIN_TOKEN (or adminToken in the config) to its token`),
};
