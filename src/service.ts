// The primary process: config → provisioning → supervisor → router. Provisions
// every site before it routes to it, starts its workers, then its hosts.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config, TenantSpec } from './config/config.ts';
import { openDatabase, type DatabaseHandle } from './db/open-database.ts';
import { Provisioner } from './db/provisioner.ts';
import { provisionSites, type SiteResult } from './db/provision-sites.ts';
import { tenantUrl } from './db/tenant-credentials.ts';
import { createHttpProxyForwarder, type Forwarder } from './router/forwarder.ts';
import { HostTable } from './router/host-table.ts';
import { Router, type Upstream } from './router/router.ts';
import { clusterFork } from './supervisor/cluster-fork.ts';
import { WorkerGroup, type ForkWorker, type GroupState, type WorkerStatus } from './supervisor/worker-group.ts';

export interface ServiceOptions {
  log: Logger;
  /** How workers are started; default node:cluster. */
  fork?: ForkWorker;
}

/** A site that could not be provisioned: every request gets 503. */
class UnavailableSite implements Upstream {
  readonly site: TenantSpec;
  readonly error: string;
  constructor(site: TenantSpec, error: string) {
    this.site = site;
    this.error = error;
  }
  next(): undefined {
    return undefined;
  }
}

type Site = WorkerGroup | UnavailableSite;

export interface SiteStatus {
  schema: string;
  hosts: readonly string[];
  state: GroupState;
  error?: string;
  workers: WorkerStatus[];
}

/** Env variables that carry admin credentials: never inherited by a worker. */
const secretEnv = ['TENANTD_DATABASE_URL', 'DATABASE_URL', 'PGPASSWORD', 'PGUSER', 'PGPASSFILE', 'PGSERVICEFILE'];

export class Service {
  readonly #log: Logger;
  readonly #fork: ForkWorker;
  #config: Config;
  #database: DatabaseHandle | undefined;
  #provisioner: Provisioner | undefined;
  #forwarder: Forwarder | undefined;
  #router: Router | undefined;
  readonly #sites = new Map<string, Site>();
  /** Tenant role passwords, made anew at each start; held only here and by each tenant's workers. */
  readonly #passwords = new Map<string, string>();

  constructor(config: Config, options: ServiceOptions) {
    this.#config = config;
    this.#log = options.log;
    this.#fork = options.fork ?? clusterFork;
  }

  get config(): Config {
    return this.#config;
  }

  /** The router's bound address. */
  get address(): AddressInfo {
    return this.#router!.server.address() as AddressInfo;
  }

  async start(): Promise<void> {
    const config = this.#config;
    const log = this.#log;
    this.#database = await openDatabase(config, (m) => log.info(m));
    for (const name of secretEnv) delete process.env[name];
    const adminUrl = this.#database.adminUrl;
    this.#provisioner = new Provisioner({
      adminUrl,
      rolePrefix: config.database.rolePrefix,
      connectionLimit: config.database.connectionLimit,
      statementTimeout: config.database.statementTimeout,
    });

    const sites = this.#allSites(config);
    for (const site of sites) this.#passwords.set(site.schema, randomBytes(24).toString('base64url'));
    const provisioned = await provisionSites({
      adminUrl,
      provisioner: this.#provisioner,
      sites,
      folders: config.migrations,
      concurrency: config.migrations.concurrency,
      passwords: this.#passwords,
      onResult: (r) => this.#logResult(r),
    });
    await this.#provisioner.syncRegistry(config.tenants.map((t) => t.schema));

    provisioned.sites.forEach((result, i) => {
      const spec = sites[i]!;
      this.#sites.set(spec.schema, result.ok ? this.#startGroup(spec) : new UnavailableSite(spec, result.error ?? 'failed'));
    });
    await Promise.all([...this.#sites.values()].map((s) => (s instanceof WorkerGroup ? s.settled() : undefined)));

    this.#forwarder = createHttpProxyForwarder({ upstreamTimeout: config.router.upstreamTimeout });
    this.#router = new Router(this.#routes(), {
      forwarder: this.#forwarder,
      log: log.child({ component: 'router' }),
      bodyLimit: config.router.bodyLimit,
      queueTimeout: config.router.queueTimeout,
      accessLog: config.log.access,
    });
    await new Promise<void>((resolve, reject) => {
      this.#router!.server.once('error', reject);
      this.#router!.server.listen(config.listen.port, config.listen.host, () => resolve());
    });
    log.info({ listen: `${config.listen.host}:${this.address.port}`, tenants: config.tenants.length }, 'tenantd serving');
  }

  #allSites(config: Config): TenantSpec[] {
    return config.public ? [config.public, ...config.tenants] : [...config.tenants];
  }

  #logResult(result: SiteResult): void {
    if (result.ok) this.#log.info({ tenant: result.schema, applied: result.applied }, 'provisioned');
    else this.#log.error({ tenant: result.schema, stage: result.stage, error: result.error }, 'provisioning failed; the tenant answers 503');
  }

  #startGroup(spec: TenantSpec): WorkerGroup {
    const { adminUrl } = this.#database!;
    const role = this.#provisioner!.roleOf(spec.schema);
    return new WorkerGroup({
      site: spec,
      fork: this.#fork,
      log: this.#log.child({ tenant: spec.schema }),
      startTimeout: this.#config.workers.startTimeout,
      stopTimeout: this.#config.workers.stopTimeout,
      start: {
        type: 'start',
        tenant: { schema: spec.schema, name: spec.name, hosts: spec.hosts, settings: spec.settings },
        app: this.#config.app,
        credentials: {
          url: tenantUrl(adminUrl, role, this.#passwords.get(spec.schema)!),
          schema: spec.schema,
          poolSize: this.#config.database.poolSize,
        },
        logLevel: this.#config.log.level,
      },
    });
  }

  #routes(): HostTable<Upstream> {
    const table = new HostTable<Upstream>();
    for (const site of this.#sites.values()) for (const host of site.site.hosts) table.add(host, site);
    return table;
  }

  status(): SiteStatus[] {
    return [...this.#sites.values()].map((site) => site instanceof WorkerGroup
      ? { schema: site.site.schema, hosts: site.site.hosts, state: site.state, workers: site.workers() }
      : { schema: site.site.schema, hosts: site.site.hosts, state: 'failed', error: site.error, workers: [] });
  }

  /** Stops accepting, lets in-flight requests finish (bounded), stops workers and the database. */
  async stop(): Promise<void> {
    const router = this.#router;
    if (router) {
      const closed = new Promise<void>((resolve) => router.server.close(() => resolve()));
      router.server.closeIdleConnections();
      const force = setTimeout(() => router.server.closeAllConnections(), this.#config.workers.stopTimeout);
      await closed;
      clearTimeout(force);
    }
    await Promise.all([...this.#sites.values()].map((s) => (s instanceof WorkerGroup ? s.stop() : undefined)));
    this.#forwarder?.close();
    await this.#provisioner?.close();
    await this.#database?.close();
    this.#log.info('tenantd stopped');
  }
}
