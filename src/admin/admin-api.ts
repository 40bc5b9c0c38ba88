// The admin API, on its own listener (loopback by default): health, readiness,
// status, Prometheus metrics and reload. Never reachable through the router.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import type { CloneRequest, CloneResult, MoveRequest, MoveResult, Readiness, ReloadResult, RenewResult, RestartResult, ServiceSummary, SiteStatus } from './admin-types.ts';

/** What the admin API needs of the service. */
export interface AdminTarget {
  readiness(): Readiness;
  status(): SiteStatus[];
  summary(): ServiceSummary;
  reload(): Promise<ReloadResult>;
  /** Replaces one tenant's workers. */
  restart(schema: string): Promise<RestartResult>;
  /** Makes a new tenant from another, with its data, and serves it. */
  clone(request: CloneRequest): Promise<CloneResult>;
  move(request: MoveRequest): Promise<MoveResult>;
  /** Orders a new certificate for one host (tls.acme) and waits for the outcome. */
  renewCertificate(host: string): Promise<RenewResult>;
  metrics(): string;
}

/** Constant-time comparison of the Authorization header with `Bearer <token>`. */
function authorized(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** With `token`, every request but /healthz must carry `Authorization: Bearer <token>`. */
export function createAdminApi(target: AdminTarget, log: Logger, token?: string): http.Server {
  const json = (res: http.ServerResponse, status: number, value: unknown) => {
    const body = `${JSON.stringify(value)}\n`;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const route = `${method} ${path}`;
    if (token !== undefined && route !== 'GET /healthz' && !authorized(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="tenantd"');
      return json(res, 401, { error: 'a bearer token is required (adminToken / TENANTD_ADMIN_TOKEN)' });
    }
    switch (route) {
      case 'GET /healthz':
        return json(res, 200, { ok: true });
      case 'GET /readyz': {
        const readiness = target.readiness();
        return json(res, readiness.ready ? 200 : 503, readiness);
      }
      case 'GET /status':
        return json(res, 200, { summary: target.summary(), tenants: target.status() });
      case 'GET /metrics': {
        const body = target.metrics();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      case 'POST /reload':
        req.resume();
        target.reload().then(
          (result) => json(res, result.ok ? 200 : result.statusCode, result),
          (error: unknown) => {
            log.error({ err: error }, 'reload failed');
            json(res, 500, { ok: false, error: (error as Error).message });
          },
        );
        return;
      case 'POST /restart': {
        req.resume();
        const schema = new URL(req.url ?? '/', 'http://admin').searchParams.get('tenant');
        if (!schema) return json(res, 400, { ok: false, error: 'name the tenant: POST /restart?tenant=<schema>' });
        target.restart(schema).then(
          (result) => json(res, result.ok ? 200 : result.statusCode, result),
          (error: unknown) => json(res, 500, { ok: false, error: (error as Error).message }),
        );
        return;
      }
      case 'POST /clone': {
        req.resume();
        const query = new URL(req.url ?? '/', 'http://admin').searchParams;
        const from = query.get('from');
        const to = query.get('to');
        if (!from || !to) return json(res, 400, { ok: false, error: 'name the template and the new tenant: POST /clone?from=<schema>&to=<schema>&host=<host>' });
        target.clone({ from, to, hosts: query.getAll('host'), name: query.get('name') ?? undefined }).then(
          (result) => json(res, result.ok ? 200 : result.statusCode, result),
          (error: unknown) => json(res, 500, { ok: false, error: (error as Error).message }),
        );
        return;
      }
      case 'POST /move': {
        req.resume();
        const query = new URL(req.url ?? '/', 'http://admin').searchParams;
        const tenant = query.get('tenant');
        const to = query.get('to') ?? undefined;
        const abort = query.get('abort') === '1';
        if (!tenant || (!to && !abort)) return json(res, 400, { ok: false, error: 'name the tenant and its new server: POST /move?tenant=<schema>&to=<server>[&offline=1], or POST /move?tenant=<schema>&abort=1' });
        target.move({ tenant, to, offline: query.get('offline') === '1', abort }).then(
          (result) => json(res, result.ok ? 200 : result.statusCode, result),
          (error: unknown) => json(res, 500, { ok: false, error: (error as Error).message }),
        );
        return;
      }
      case 'POST /certificates/renew': {
        req.resume();
        const host = new URL(req.url ?? '/', 'http://admin').searchParams.get('host');
        if (!host) return json(res, 400, { ok: false, error: 'name the host: POST /certificates/renew?host=<host>' });
        target.renewCertificate(host.toLowerCase()).then(
          (result) => json(res, result.ok ? 200 : result.statusCode, result),
          (error: unknown) => json(res, 500, { ok: false, error: (error as Error).message }),
        );
        return;
      }
      default: {
        const known = ['/healthz', '/readyz', '/status', '/metrics', '/reload', '/restart', '/clone', '/move', '/certificates/renew'].includes(path ?? '');
        return json(res, known ? 405 : 404, { error: known ? 'method not allowed' : 'not found' });
      }
    }
  });
}
