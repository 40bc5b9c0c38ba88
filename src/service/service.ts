// The primary process: config → provisioning → supervisor → router. Provisions
// every site before it routes to it, starts its workers, then its hosts; a reload
// applies a new config as a difference, through the same steps.
import { writeFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { ClientLimits } from '../http/client-limits.ts';
import { sweepInterval } from '../http/client-rules.ts';
import type { Logger } from 'pino';
import { sitesOf } from '../config/config-diff.ts';
import type { Config, Site } from '../config/config.ts';
import { loadConfigOffThread } from './load-config-off-thread.ts';
import { errors, TenantdError } from '../base/errors.ts';
import { DatabaseServers } from '../db/database-servers.ts';
import { provisionOnServers, type SiteResult } from '../db/provision-sites.ts';
import { recordDropped, type Placement } from '../db/placement.ts';
import { MoveLock } from '../db/move-lock.ts';
import { PlacementWatch } from '../db/placement-watch.ts';
import { moveName, TenantMove } from '../data/move-tenant.ts';
import { runMove, undoMove } from '../data/run-move.ts';
import { HeldSite } from './held-site.ts';
import { CredentialsSecret } from '../db/credentials-secret.ts';
import { DatabaseMonitor, type DatabaseState } from '../db/database-monitor.ts';
import { createAdminApi } from '../admin/admin-api.ts';
import { Metrics } from '../admin/metrics.ts';
import type http from 'node:http';
import { createHttpProxyForwarder, type Forwarder } from '../router/forwarder.ts';
import { HostTable } from '../http/host-table.ts';
import { Router, type RouterLimits } from '../router/router.ts';
import { closeGracefully } from '../http/close-gracefully.ts';
import { clusterFork, prepareWorkerRuntime } from '../supervisor/cluster-fork.ts';
import { bundle } from '../build/bundle.ts';
import { PortPool } from '../supervisor/port-pool.ts';
import { StartGate } from '../supervisor/start-gate.ts';
import { LiveWorkers } from '../supervisor/live-workers.ts';
import { readServerConnections, type ServerConnections } from '../db/connection-budget.ts';
import { connectAdmin } from '../db/admin-connection.ts';
import { dropSideSchema, sideSchemas } from '../data/replace-tenant.ts';
import { connectionBudget, liveLimit } from '../supervisor/worker-budget.ts';
import { residentBytes } from '../admin/metrics.ts';
import { WorkerGroup, type ForkWorker, type GroupState } from '../supervisor/worker-group.ts';
import type { CloneRequest, CloneResult, MoveRequest, MoveResult, Readiness, ReloadResult, RenewResult, RestartResult, ServiceSummary, SiteStatus } from '../admin/admin-types.ts';
import { cloneFile, cloneSite, cloneTenant } from '../data/clone-tenant.ts';
import { deepFreeze } from '../config/deep-freeze.ts';
import { LogLevels } from './log-levels.ts';
import { SiteCredentials } from './site-credentials.ts';
import { TlsState } from './tls-state.ts';
import { CertificateManager } from '../acme/certificate-manager.ts';
import { CertificateStore } from '../db/certificate-store.ts';
import type { CertificatePem, LoadedCertificate } from '../tls/certificates.ts';
import { placeSites, planReload, type Started as Outcome } from './reload-plan.ts';
import { routesOf, serves, statusOf, UnavailableSite, type ServedSite } from './site-table.ts';

export interface ServiceOptions {
  log: Logger;
  /** How workers are started; default node:cluster. */
  fork?: ForkWorker;
  /** The environment the config was read with (TENANTD_DATABASE_URL); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where workers' output goes, line by line, when it is not stdout (a terminal's readable lines). */
  output?: { follow(stream: Readable): void };
}


/** A rejected reload's result, with its error's code and status. */
function rejected(error: TenantdError): Extract<ReloadResult, { ok: false }> {
  return { ok: false, code: error.code, statusCode: error.statusCode, error: error.message };
}

/** Each started site, healthy (a worker group that serves) or not, with why not: what placeSites weighs against the running ones. */
function outcomesOf(started: Map<string, ServedSite>): Map<string, Outcome<ServedSite>> {
  return new Map([...started].map(([schema, site]): [string, Outcome<ServedSite>] => [schema,
    site instanceof WorkerGroup && serves(site.state) ? { site, healthy: true }
      : { site, healthy: false, error: site instanceof UnavailableSite ? site.error : 'workers failed to start' }]));
}

/** A tenant's certificates as one string, to tell whether they changed. */
function pemsOf(certificates: readonly CertificatePem[]): string {
  return certificates.map((c) => c.cert).join('');
}

/** ms between checks for a new ticket key period. */
const ticketCheckInterval = 60_000;

/** The HTTPS state of `config`, if it configures tls; throws TENANTD_CERTIFICATE_INVALID. */
function tlsStateOf(config: Config, secret: CredentialsSecret, router: Router): TlsState | undefined {
  const bound = router.tlsListener.address();
  return config.tls ? new TlsState(config as Config & { tls: NonNullable<Config['tls']> }, secret, bound && typeof bound === 'object' ? bound.port : undefined) : undefined;
}

/** Env variables that carry admin credentials: never inherited by a worker. */
const secretEnv = ['TENANTD_DATABASE_URL', 'TENANTD_ADMIN_TOKEN', 'DATABASE_URL', 'PGPASSWORD', 'PGUSER', 'PGPASSFILE', 'PGSERVICEFILE'];

function listen(server: net.Server, what: 'router' | 'TLS listener' | 'admin API', host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) => reject(new errors.ListenFailed(what, `${host}:${port}`, error.code ?? error.message));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

function limitsOf(config: Config): RouterLimits {
  const { maxHeaderSize: _fixed, ...limits } = config.router;
  return { ...limits, accessLog: config.log.access };
}

/** What workers enforce on the connections handed to them. */
function clientLimitsOf(config: Config, router: Router): ClientLimits {
  const { bodyLimit, maxHeaderSize, maxHeaderLineSize, headersTimeout, requestTimeout, keepAliveTimeout, upstreamTimeout } = config.router;
  return { bodyLimit, maxHeaderSize, maxHeaderLineSize, headersTimeout, requestTimeout, keepAliveTimeout, upstreamTimeout, accessLog: config.log.access, reroute: router.rerouteTarget };
}

/**
 * What exists once the service has started: every part it wires. Made once in
 * start(), in the order the parts come up; every method after start reads it
 * from here (never a field that may not be there yet).
 */
interface Started {
  /** Every database server, open; the default first. */
  servers: DatabaseServers;
  /** A watch on each server, by name. */
  monitors: Map<string, DatabaseMonitor>;
  router: Router;
  /** Each server's max_connections and the workers' share of it, read at start (again when it comes back). */
  connections: Map<string, ServerConnections>;
  /** Each site's role verifier and its workers' credentials, from the credentials secret (replaced when it rotates). */
  credentials: SiteCredentials;
  /** Certificates and ticket keys, when tls is configured (replaced at each reload). */
  tls: TlsState | undefined;
  /** Certificates by ACME, when tls.acme is configured (started or stopped by a reload that adds or removes it). */
  acme: CertificateManager | undefined;
}

export class Service {
  readonly #log: Logger;
  readonly #fork: ForkWorker;
  readonly #env: NodeJS.ProcessEnv;
  readonly metrics = new Metrics();
  #config: Config;
  /** The parts up so far: all of them once start() has run (see Started); stop() closes whichever are. */
  #parts: Partial<Started> & { admin?: http.Server; forwarder?: Forwarder; certificateStore?: CertificateStore } = {};
  /** Where each tenant lives, as the placement table said at its last start (moves update it). */
  #placement = new Map<string, Placement>();
  /** The server each served site's workers connect to. */
  #serverOf = new Map<string, string>();
  /** Tenants this node is moving now: what another node announces of them is ours. */
  readonly #moving = new Set<string>();
  /** What stops each move this node runs (tenants move --abort). */
  readonly #moveAborts = new Map<string, AbortController>();
  /** Tenants another node is cutting over: their requests wait here until it switches (or gives up). */
  readonly #following = new Map<string, { held: HeldSite; timer: NodeJS.Timeout }>();
  /** Placement changes other nodes announce, followed. */
  #watch: PlacementWatch | undefined;
  #started: Started | undefined;
  #sites = new Map<string, ServedSite>();
  /** Groups that left the routes and are finishing their requests. */
  readonly #draining = new Set<Promise<void>>();
  /** The application module compiled to one plain-JavaScript file: what workers import. */
  #app = '';
  /** Whether the router routes yet (it listens before provisioning and answers 503 meanwhile). */
  #routing = false;
  #reloads: Promise<unknown> = Promise.resolve();
  #ports: PortPool;
  /** One gate for every site's starts: boot, reload and restarts take turns. */
  readonly #starts: StartGate;
  /** The cap on live workers of each database server's tenants (workers.maxLive and that server's connection budget). */
  readonly #live = new Map<string, LiveWorkers>();
  /** Stops idle workers beyond min (workers.idleTimeout). */
  #reaper: NodeJS.Timeout | undefined;
  /** Drops data replaced by restores once backup.keepReplaced has passed. */
  #expiry: NodeJS.Timeout | undefined;
  /** Checks whether a new period of tls.ticketRotation began. */
  #rotation: NodeJS.Timeout | undefined;
  #ticketEpoch: number | undefined;
  #stopping = false;
  #starting: Promise<void> | undefined;
  readonly #levels: LogLevels;
  readonly #output: ServiceOptions['output'];

  constructor(config: Config, options: ServiceOptions) {
    this.#config = config;
    this.#log = options.log;
    this.#levels = new LogLevels(options.log);
    this.#fork = options.fork ?? clusterFork;
    this.#output = options.output;
    this.#ports = new PortPool(config.workers.ports);
    this.#starts = new StartGate(config.workers.startConcurrency);
    const env = options.env ?? process.env;
    this.#env = { TENANTD_DATABASE_URL: env.TENANTD_DATABASE_URL, TENANTD_ADMIN_TOKEN: env.TENANTD_ADMIN_TOKEN };
  }

  get config(): Config {
    return this.#config;
  }

  /** The parts of a started service; throws before start() has made them. */
  get #running(): Started {
    if (!this.#started) throw new Error('the service has not started');
    return this.#started;
  }

  /** The router's bound address. */
  get address(): AddressInfo {
    return this.#running.router.listener.address() as AddressInfo;
  }

  /** The TLS listener's bound address (tls.listen). */
  get tlsAddress(): AddressInfo {
    const address = this.#running.router.tlsListener.address();
    if (!address || typeof address === 'string') throw new Error('the service has no TLS listener (tls.listen)');
    return address;
  }

  /** The admin API's bound address. */
  get adminAddress(): AddressInfo {
    if (!this.#parts.admin) throw new Error('the service has not started');
    return this.#parts.admin.address() as AddressInfo;
  }

  metricsText(): string {
    return this.metrics.render(this.status(), this.#databaseSummaries(), this.#liveCount(), this.#started?.acme?.outcomes);
  }

  /**
   * Listens on the admin address, provisions every site, starts the workers, then
   * routes. A stop or a reload asked meanwhile waits for this to finish.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    this.#reloads = this.#starting.catch(() => {});
    return this.#starting;
  }

  async #start(): Promise<void> {
    const config = this.#config;
    const log = this.#log;
    const parts = this.#parts;
    // First, so that /healthz answers and /readyz says 503 while tenants provision.
    parts.admin = createAdminApi({
      readiness: () => this.readiness(),
      status: () => this.status(),
      summary: () => this.summary(),
      reload: () => this.reload(),
      restart: (schema) => this.restart(schema),
      clone: (request) => this.clone(request),
      move: (request) => this.move(request),
      renewCertificate: (host) => this.renewCertificate(host),
      metrics: () => this.metricsText(),
    }, this.#levels.child({ component: 'admin' }), config.adminToken);
    await listen(parts.admin, 'admin API', config.admin.host, config.admin.port);
    // The router binds before provisioning, so that a taken port fails in a
    // second; until the sites are up it answers 503 with Retry-After.
    parts.forwarder = createHttpProxyForwarder();
    const router = new Router(new HostTable(), {
      ...limitsOf(config),
      maxHeaderSize: config.router.maxHeaderSize,
      forwarder: parts.forwarder,
      log: this.#levels.child({ component: 'router' }),
      onResponse: (entry) => this.metrics.observe(entry),
    });
    parts.router = router;
    await router.listen(config.listen.host, config.listen.port).catch((error: NodeJS.ErrnoException) => {
      throw new errors.ListenFailed('router', `${config.listen.host}:${config.listen.port}`, error.code ?? error.message);
    });
    if (config.tls) await listen(router.tlsListener, 'TLS listener', config.tls.listen.host, config.tls.listen.port);

    const servers = await DatabaseServers.open(config, (name) => ({
      onProgress: (m) => log.info(m),
      log: this.#levels.child({ component: 'database', server: name }),
      onRestart: () => this.metrics.databaseRestarted(),
    }));
    parts.servers = servers;
    for (const name of secretEnv) delete process.env[name];
    const { database, provisioner } = servers.default;
    // The first query: a default server that cannot be reached is one line here
    // (TENANTD_DATABASE_UNREACHABLE); another server down serves its tenants 503 until it is back.
    const connections = new Map<string, ServerConnections>();
    for (const server of servers.list) {
      try {
        connections.set(server.name, await readServerConnections(server.database.adminUrl));
      } catch (error) {
        if (server.name === 'default') throw error;
        log.error({ server: server.name, err: error }, 'database server unreachable; its tenants answer 503 until it is back');
        connections.set(server.name, { server: 0, share: 1 });
      }
    }
    const monitors = new Map(servers.list.map((server) => [server.name, new DatabaseMonitor(server.database.adminUrl, (state) => this.#databaseChanged(server.name, state))]));
    parts.monitors = monitors;
    for (const monitor of monitors.values()) monitor.start();
    const secret = CredentialsSecret.read(config.database.secretFile, true);
    const credentials = new SiteCredentials(secret, provisioner);
    const tls = tlsStateOf(config, secret, router);
    const acme = config.tls?.acme ? await this.#startAcme(config.tls.acme, secret, database.adminUrl) : undefined;
    parts.acme = acme;
    if (tls) {
      if (acme) tls.setIssued(acme.issued);
      router.setTls(tls.router(acme));
    }
    this.#started = { servers, monitors, router, connections, credentials, tls, acme };
    for (const [name, server] of connections) {
      this.#liveOf(name).limit = liveLimit(config, server);
      const budget = connectionBudget(config.database, server);
      log.info({ server: name, serverMaxConnections: server.server, budget, maxLive: this.#liveOf(name).limit }, 'connection budget');
    }
    const alwaysOn = sitesOf(config).reduce((n, site) => n + site.min, 0);
    const cap = [...this.#live.values()].reduce((n, live) => n + live.limit, 0);
    if (alwaysOn > cap) {
      log.warn({ alwaysOn, maxLive: cap, poolSize: config.database.poolSize },
        'more always-on workers (workers.min) than the live cap: they all run, but their pools may exceed the connection budget; lower database.poolSize or raise the server\'s max_connections');
    }

    // Workers run plain JavaScript: the runtime and the app are compiled here, once.
    await prepareWorkerRuntime({ silent: this.#output !== undefined });
    this.#app = await bundle(config.app, 'app');
    // A move a dead tenantd left half-done is rolled back first: its tenant serves from where it was.
    await this.#rollBackAbandonedMoves(config);
    this.#sites = await this.#startSites(config, sitesOf(config));
    await this.#syncRegistries(config);
    this.#watch = new PlacementWatch(database.adminUrl, (schema) => void this.#follow(schema), (placement) => this.#followAll(placement));
    this.#watch.start();

    router.setRoutes(routesOf(this.#sites));
    router.open();
    this.#reaper = setInterval(() => {
      const now = Date.now();
      for (const site of this.#sites.values()) if (site instanceof WorkerGroup) site.reap(now, this.#config.workers.idleTimeout);
    }, sweepInterval(config.workers.idleTimeout));
    this.#reaper.unref();
    // Data a restore replaced is kept for backup.keepReplaced: dropped now and every hour after.
    void this.#dropExpiredCopies();
    this.#expiry = setInterval(() => void this.#dropExpiredCopies(), 3_600_000);
    this.#expiry.unref();
    // Session ticket keys change with each period of tls.ticketRotation.
    this.#ticketEpoch = tls?.epoch();
    this.#rotation = setInterval(() => this.#rotateTickets(), ticketCheckInterval);
    this.#rotation.unref();
    this.#routing = true;
    // Hosts without a certificate are ordered off the request path, from now on.
    if (tls && acme) acme.want(tls.acmeHosts(sitesOf(config)));
    const statuses = this.status();
    const notServing = statuses.filter((s) => !serves(s.state));
    log[notServing.length > 0 ? 'warn' : 'info']({
      listen: `${config.listen.host}:${this.address.port}`,
      admin: `${config.admin.host}:${this.adminAddress.port}`,
      tenants: config.tenants.length,
      serving: statuses.length - notServing.length,
      notServing: notServing.length,
      ...(notServing.length > 0 ? { problems: notServing.map((s) => `${s.schema}: ${s.state}${s.error ? ` (${s.error})` : ''}`) } : {}),
    }, 'tenantd serving');
  }

  /** The certificate manager of tls.acme: its tables made, what the database holds read (served at once). */
  async #startAcme(config: NonNullable<NonNullable<Config['tls']>['acme']>, secret: CredentialsSecret, adminUrl: string): Promise<CertificateManager> {
    this.#parts.certificateStore ??= new CertificateStore(adminUrl);
    return CertificateManager.start(config, {
      store: this.#parts.certificateStore,
      secret,
      log: this.#log.child({ component: 'acme' }),
      changed: (issued) => this.#issuedChanged(issued),
    });
  }

  /**
   * ACME issued a certificate (here or on another node): the router gets the
   * new set, and the workers of each tenant whose certificates changed get
   * theirs (each rebuilds its TLS contexts, so the others are left alone).
   */
  #issuedChanged(issued: readonly LoadedCertificate[]): void {
    const started = this.#started;
    if (!started?.tls) return;
    const tls = started.tls;
    const groups = [...this.#sites.values()].filter((site) => site instanceof WorkerGroup);
    const before = groups.map((group) => pemsOf(tls.certificatesFor(group.site)));
    tls.setIssued(issued);
    started.router.setTls(tls.router(started.acme));
    groups.forEach((group, i) => {
      if (pemsOf(tls.certificatesFor(group.site)) !== before[i]) group.setTls(tls.forSite(group.site));
    });
  }

  /**
   * An applied reload's tls.acme: the manager configured, started (what the
   * database holds then goes to the workers) or stopped; the router told; the
   * hosts to keep certified given again. A manager that cannot start (the
   * database away) is logged; the next reload tries again.
   */
  async #reconfigureAcme(config: Config, secret: CredentialsSecret): Promise<void> {
    const running = this.#running;
    const previous = running.acme;
    const wanted = config.tls?.acme;
    if (!wanted) running.acme = undefined;
    else if (previous) previous.configure(wanted);
    else {
      running.acme = await this.#startAcme(wanted, secret, running.servers.default.database.adminUrl).catch((error: unknown) => {
        this.#log.error({ err: error }, 'certificates by ACME could not start; the next reload tries again');
        return undefined;
      });
    }
    if (previous && !running.acme) void previous.close();
    const tls = running.tls;
    if (!tls) return;
    if (running.acme && !previous) this.#issuedChanged(running.acme.issued);
    running.router.setTls(tls.router(running.acme));
    running.acme?.want(tls.acmeHosts(sitesOf(config)));
  }

  /**
   * Orders a new certificate for `host` now (tenantd certs renew), and waits
   * for the outcome (at most `timeout` ms).
   */
  async renewCertificate(host: string, timeout = 120_000): Promise<RenewResult> {
    const acme = this.#started?.acme;
    if (!acme) return rejected(new errors.AcmeOff());
    if (!acme.manages(host)) return rejected(new errors.AcmeHostUnknown(host));
    const state = await acme.renew(host, timeout);
    return { ok: true, host, ...state };
  }

  /** Drops the `$replaced$` copies older than backup.keepReplaced (and `$restoring$` ones a killed restore left, as old). */
  async #dropExpiredCopies(): Promise<void> {
    const started = this.#started;
    if (!started) return;
    // The fenced copies finished moves left, once moves.keepSource has passed.
    const keep = this.#config.moves.keepSource;
    const placement = keep > 0 ? await started.servers.placement().catch(() => new Map<string, Placement>()) : new Map<string, Placement>();
    for (const placed of placement.values()) {
      if (!placed.leftOn || !placed.leftAt || placed.leftAt.getTime() > Date.now() - keep || placed.move) continue;
      try {
        const from = started.servers.get(placed.leftOn);
        if ((await from.provisioner.registry()).some((r) => r.schema === placed.schema)) await from.provisioner.drop(placed.schema, []);
        await started.servers.default.provisioner.withClient((c) => recordDropped(c, placed.schema));
        this.#log.info({ tenant: placed.schema, server: placed.leftOn }, 'dropped the fenced copy a move left (moves.keepSource has passed)');
      } catch (error) {
        this.#log.warn({ tenant: placed.schema, server: placed.leftOn, err: error }, 'could not drop the fenced copy a move left; trying again in an hour');
      }
    }
    for (const server of started.servers.list) {
      try {
        const c = await connectAdmin(server.database.adminUrl);
        try {
          const cutoff = Date.now() - this.#config.backup.keepReplaced;
          for (const side of await sideSchemas(c)) {
            if (side.at.getTime() > cutoff) continue;
            await dropSideSchema(c, side);
            this.#log.info({ schema: side.name, server: server.name }, 'dropped data a restore replaced (backup.keepReplaced has passed)');
          }
        } finally {
          await c.end().catch(() => {});
        }
      } catch (error) {
        this.#log.warn({ server: server.name, err: error }, 'could not drop the data restores replaced; trying again in an hour');
      }
    }
  }

  #databaseChanged(name: string, state: DatabaseState): void {
    if (!state.up) {
      this.#log.error({ server: name, reason: state.reason }, 'database server unreachable; its tenants answer 503 until it is back');
      return;
    }
    this.#log.info({ server: name }, 'database server reachable again');
    // Its tenants that could not be provisioned while it was away start now.
    const waiting = [...this.#sites.values()].filter((site) => site instanceof UnavailableSite && this.#serverOf.get(site.site.schema) === name);
    const started = this.#started;
    if (started && started.connections.get(name)?.server === 0) {
      void readServerConnections(started.servers.get(name).database.adminUrl).then((server) => {
        started.connections.set(name, server);
        this.#liveOf(name).limit = liveLimit(this.#config, server);
      }).catch(() => {});
    }
    for (const site of waiting) void this.restart(site.site.schema);
  }

  /** The live-worker cap of `server`'s tenants (made on first use). */
  #liveOf(server: string): LiveWorkers {
    let live = this.#live.get(server);
    if (!live) {
      live = new LiveWorkers(this.#config.workers.maxLive);
      this.#live.set(server, live);
    }
    return live;
  }

  #liveCount(): number {
    return [...this.#live.values()].reduce((n, live) => n + live.count, 0);
  }

  /** Every server's registry marks the tenants the config no longer names as removed (their data stays). */
  async #syncRegistries(config: Config): Promise<void> {
    const schemas = config.tenants.map((t) => t.schema);
    await Promise.all(this.#running.servers.list.map((server) => server.provisioner.syncRegistry(schemas).catch((error: unknown) => {
      this.#log.warn({ server: server.name, err: error }, 'could not record removed tenants on this server; the next reload tries again');
    })));
  }

  /**
   * Provisions `sites` (schema, role, migrations), then starts their workers and
   * waits until each is ready or has failed. Sites that could not be provisioned
   * become UnavailableSite.
   */
  async #startSites(config: Config, sites: Site[]): Promise<Map<string, ServedSite>> {
    const { servers, credentials } = this.#running;
    const verifiers = new Map(sites.map((site) => [site.schema, credentials.verifier(site)]));
    // Where each lives (a new one is placed now): the registry, not the entry, is the truth.
    const assigned = await servers.assign(sites, config.placement);
    for (const warning of assigned.warnings) this.#log.warn(warning);
    this.#placement = assigned.recorded;
    const provisioned = await provisionOnServers({
      servers,
      placement: assigned.servers,
      sites,
      folders: config.migrations,
      concurrency: config.migrations.concurrency,
      verifiers,
      onResult: (r) => this.#logResult(r),
    });
    const started = new Map<string, ServedSite>();
    provisioned.sites.forEach((result, i) => {
      const spec = sites[i]!;
      this.#serverOf.set(spec.schema, result.server);
      started.set(spec.schema, result.ok ? this.#startGroup(config, spec, result.server) : new UnavailableSite(spec, result.error ?? 'failed'));
    });
    await Promise.all([...started.values()].map((s) => (s instanceof WorkerGroup ? s.settled() : undefined)));
    return started;
  }

  #logResult(result: SiteResult): void {
    if (result.ok) this.#log.info({ tenant: result.schema, applied: result.applied }, 'provisioned');
    else this.#log.error({ tenant: result.schema, stage: result.stage, err: new Error(result.error ?? 'failed') }, 'provisioning failed; the tenant answers 503');
  }

  #startGroup(config: Config, spec: Site, server: string): WorkerGroup {
    const { min: _min, max: _max, ...tenant } = spec;
    return new WorkerGroup({
      site: spec,
      fork: this.#fork,
      ports: this.#ports,
      log: this.#log.child({ tenant: spec.schema }),
      starts: this.#starts,
      live: this.#liveOf(server),
      onRetire: (why) => this.metrics.workerRetired(why),
      onColdStart: (ms) => this.metrics.coldStart(ms),
      ...(this.#output ? { follow: (stream: Readable) => this.#output!.follow(stream) } : {}),
      onReport: (closed, requests) => {
        this.#started?.router.connectionsClosed(closed);
        if (requests) this.metrics.add(spec.schema, requests);
      },
      startTimeout: config.workers.startTimeout,
      stopTimeout: config.workers.stopTimeout,
      start: {
        type: 'start',
        tenant,
        app: this.#app,
        credentials: this.#running.credentials.of(spec, config.database, this.#running.servers.get(server).database.adminUrl),
        migrations: spec.schema === 'public' ? undefined : config.migrations.tenant,
        logLevel: config.log.level,
        limits: clientLimitsOf(config, this.#running.router),
        tls: this.#running.tls?.forSite(spec),
      },
    });
  }

  /** A new period of tls.ticketRotation: every tenant's workers get its new ticket keys. */
  #rotateTickets(): void {
    const tls = this.#started?.tls;
    if (!tls || tls.epoch() === this.#ticketEpoch) return;
    this.#ticketEpoch = tls.epoch();
    for (const site of this.#sites.values()) if (site instanceof WorkerGroup) site.setTls(tls.forSite(site.site));
    this.#log.info('TLS session ticket keys rotated');
  }

  /** Lets a group finish its requests and exit, without holding up the caller. */
  #drain(site: ServedSite): void {
    if (!(site instanceof WorkerGroup)) return;
    const done = site.stop().finally(() => this.#draining.delete(done));
    this.#draining.add(done);
  }

  /**
   * Re-reads the config file. A config that does not load is rejected whole and
   * the running one stays; a valid one is applied as a difference. Reloads run
   * one at a time, in the order asked.
   */
  reload(): Promise<ReloadResult> {
    // Whatever a reload meets (the database down, say), it is a rejected reload:
    // the running config stays and the process goes on.
    const run = this.#reloads.then(() => this.#reload()).catch((error: unknown): ReloadResult => {
      const failure = error instanceof TenantdError ? error : new errors.ReloadFailed((error as Error)?.message ?? String(error));
      this.#log.error({ err: failure }, 'reload failed; the running config stays');
      return rejected(failure);
    });
    this.#reloads = run.catch(() => {});
    return run;
  }

  /**
   * Replaces the workers of one site (its data was replaced under it, say):
   * new workers start, traffic moves when they are ready, the old ones drain,
   * as a reload does for a changed site. In turn with reloads.
   */
  restart(schema: string): Promise<RestartResult> {
    const run = this.#reloads.then(async (): Promise<RestartResult> => {
      if (this.#stopping) return rejected(new errors.Stopping());
      const spec = sitesOf(this.#config).find((site) => site.schema === schema);
      if (!spec) return rejected(new errors.TenantUnknown(schema));
      const outcomes = outcomesOf(await this.#startSites(this.#config, [spec]));
      const healthy = outcomes.get(schema)!.healthy;
      const { sites, retired, failed } = placeSites(this.#config, this.#sites, outcomes, []);
      this.#running.router.setRoutes(routesOf(sites));
      this.#sites = sites;
      for (const old of retired) this.#drain(old);
      this.#log.info({ tenant: schema, restarted: healthy }, healthy ? 'tenant workers restarted' : 'tenant workers could not restart; the old ones serve');
      return failed.length > 0 ? rejected(new errors.RestartFailed(schema, failed[0]!.error)) : { ok: true, restarted: schema };
    }).catch((error: unknown): RestartResult => rejected(error instanceof TenantdError ? error : new errors.ReloadFailed((error as Error)?.message ?? String(error))));
    this.#reloads = run.catch(() => {});
    return run;
  }

  /**
   * A new tenant made from another (a template) with its data (the copy engine,
   * data/clone-tenant.ts), written to tenantsDir and served at once: only that
   * site is added, without reading the whole config again. In turn with reloads.
   */
  clone(request: CloneRequest): Promise<CloneResult> {
    const run = this.#reloads.then(async (): Promise<CloneResult> => {
      if (this.#stopping) return rejected(new errors.Stopping());
      const started = performance.now();
      const config = this.#config;
      const site = cloneSite(config, request.from, request.to, request.hosts, request.name);
      const { servers, credentials } = this.#running;
      // The new tenant is made on the server its template lives on.
      const server = servers.get(this.#serverOf.get(request.from) ?? (await servers.placement()).get(request.from)?.server ?? 'default');
      await servers.assign([{ ...site, database: server.name }], config.placement);
      const { rows } = await cloneTenant({ adminUrl: server.database.adminUrl, provisioner: server.provisioner, from: request.from, site, verifier: credentials.verifier(site), folder: config.migrations.tenant });
      const file = path.join(config.tenantsDir!, `${site.schema}.yaml`);
      writeFileSync(file, cloneFile(site), { flag: 'wx' });
      const next = deepFreeze({ ...config, tenants: [...config.tenants, site] }) as Config;
      const { sites } = placeSites(next, this.#sites, outcomesOf(await this.#startSites(next, [site])), []);
      this.#running.router.setRoutes(routesOf(sites));
      this.#sites = sites;
      this.#config = next;
      this.#log.info({ tenant: site.schema, from: request.from, rows }, 'tenant cloned');
      return { ok: true, schema: site.schema, rows, file, ms: Math.round(performance.now() - started) };
    }).catch((error: unknown): CloneResult => rejected(error instanceof TenantdError ? error : new errors.ReloadFailed((error as Error)?.message ?? String(error))));
    this.#reloads = run.catch(() => {});
    return run;
  }

  /**
   * tenantd tenants move: the tenant's data to another database server, online
   * (logical replication; its requests held for the cutover only) or offline
   * (the copy engine; held for the copy). In turn with reloads, so no
   * migration runs during a move.
   */
  move(request: MoveRequest): Promise<MoveResult> {
    // An abort of a move this node is running now stops it (it undoes itself) and answers when it has.
    const running = this.#moveAborts.get(request.tenant);
    if (request.abort && running) {
      running.abort();
      return this.#reloads.then(async (): Promise<MoveResult> => ({ ok: true, schema: request.tenant, aborted: true, server: this.#serverOf.get(request.tenant) ?? 'default' }));
    }
    const run = this.#reloads.then(() => this.#move(request))
      .catch((error: unknown): MoveResult => rejected(error instanceof TenantdError ? error : new errors.MoveFailed(request.tenant, 'moving', (error as Error)?.message ?? String(error))));
    this.#reloads = run.catch(() => {});
    return run;
  }

  async #move(request: MoveRequest): Promise<MoveResult> {
    if (this.#stopping) return rejected(new errors.Stopping());
    const config = this.#config;
    const spec = config.tenants.find((t) => t.schema === request.tenant);
    if (!spec) return rejected(new errors.TenantUnknown(request.tenant));
    const schema = spec.schema;
    const { servers, router } = this.#running;
    const lock = await MoveLock.take(servers.default.database.adminUrl, schema);
    this.#moving.add(schema);
    const aborts = new AbortController();
    this.#moveAborts.set(schema, aborts);
    try {
      const placement = await servers.placement();
      const placed = placement.get(schema);
      const from = placed?.server ?? 'default';
      if (request.abort) {
        await undoMove(placed, from, servers.names, (target) => this.#tenantMove(config, spec, from, target));
        await lock.record(null);
        this.#placement = await servers.placement();
        this.#log.info({ tenant: schema, server: from }, 'move aborted; the tenant serves from where it was');
        return { ok: true, schema, aborted: true, server: from };
      }
      const target = servers.get(request.to!);
      if (target.name === from) return rejected(new errors.MoveRefused(schema, `it lives on ${from} already`));
      const busy = [...placement.values()].find((p) => p.schema !== schema && p.move && [from, target.name].some((s) => s === p.server || s === p.move!.to));
      if (busy) return rejected(new errors.MoveRefused(schema, `${busy.schema} is moving from ${busy.server} to ${busy.move!.to}: one move per server at a time`));
      const online = !request.offline;
      const record = { to: target.name, mode: online ? 'online' as const : 'offline' as const, startedAt: new Date().toISOString() };
      const move = this.#tenantMove(config, spec, from, target.name);
      const old = this.#sites.get(schema);
      let next: WorkerGroup | undefined;
      let held: HeldSite | undefined;
      let holdMs = 0;
      let switched = false;
      try {
        const outcome = await runMove(move, online, {
          phase: async (phase) => {
            await lock.record(phase === null ? null : { ...record, phase });
            this.#placement = await servers.placement();
          },
          // The target's workers start before the pause, so the pause does not wait for them.
          ready: async () => {
            next = this.#startGroup(config, spec, target.name);
            const state = await next.settled();
            if (!serves(state)) throw new Error(`the tenant's workers on ${target.name} did not start: ${next.reason ?? state}`);
          },
          pause: async (inside) => {
            const began = performance.now();
            held = this.#hold(spec);
            // The old workers send what comes on their connections through the router (held), and finish what they serve.
            if (old instanceof WorkerGroup) await old.handBack(config.workers.stopTimeout);
            let serving: ServedSite;
            try {
              await inside();
              switched = true;
              serving = next!;
              this.#serverOf.set(schema, target.name);
            } catch (error) {
              // Back to the source, unfenced, with workers that serve again (the old ones hand every request back).
              await move.unfence().catch(() => {});
              serving = this.#startGroup(config, spec, from);
              await (serving as WorkerGroup).settled();
              this.#failedPause(serving, held, old, began);
              throw error;
            }
            this.#sites.set(schema, serving);
            router.setRoutes(routesOf(this.#sites));
            held.release(serving);
            holdMs = performance.now() - began;
            if (old) this.#drain(old);
          },
          switchTo: () => lock.switchTo(target.name, from),
          progress: (message) => this.#log.info({ tenant: schema }, message),
        }, { copyTimeout: 3_600_000, catchUpTimeout: 30_000, signal: aborts.signal });
        this.#placement = await servers.placement();
        const result = { ok: true as const, schema, from, to: target.name, mode: outcome.mode, copyMs: Math.round(outcome.copyMs), startMs: Math.round(outcome.startMs), pauseMs: Math.round(holdMs), held: held?.held ?? 0, rows: outcome.rows };
        this.#log.info(result, 'tenant moved');
        return result;
      } catch (error) {
        if (!switched && next) this.#drain(next);
        this.#placement = await servers.placement().catch(() => this.#placement);
        throw error;
      } finally {
        await move.close();
      }
    } finally {
      this.#moving.delete(schema);
      this.#moveAborts.delete(schema);
      await lock.release();
    }
  }

  /** From now on the requests for `spec`'s hosts wait (HeldSite) until it is released. */
  #hold(spec: Site): HeldSite {
    const held = new HeldSite(spec);
    this.#running.router.setRoutes(routesOf(new Map<string, ServedSite | HeldSite>([...this.#sites, [spec.schema, held]])));
    return held;
  }

  /** A pause whose cutover failed: the tenant's requests go on to `serving` (fresh workers on the source); the old workers drain. */
  #failedPause(serving: ServedSite, held: HeldSite, old: ServedSite | undefined, began: number): void {
    this.#sites.set(held.site.schema, serving);
    this.#running.router.setRoutes(routesOf(this.#sites));
    held.release(serving);
    if (old) this.#drain(old);
    this.#log.warn({ tenant: held.site.schema, heldMs: Math.round(performance.now() - began) }, 'the cutover failed; the tenant serves from its source again');
  }

  #tenantMove(config: Config, spec: Site, from: string, to: string): TenantMove {
    const { servers, credentials } = this.#running;
    return TenantMove.between(servers, spec, from, to, credentials.verifier(spec), config.migrations.tenant);
  }

  /**
   * Moves the placement table records as under way whose lock nobody holds:
   * the tenantd that ran them died. Each is rolled back (the source unfenced,
   * the target's half-made copy and the replication dropped), so its tenant
   * serves from where it was; what cannot be cleaned now is logged, for
   * `tenants move --abort`.
   */
  async #rollBackAbandonedMoves(config: Config): Promise<void> {
    const { servers } = this.#running;
    for (const placed of (await servers.placement()).values()) {
      if (!placed.move) continue;
      const spec = config.tenants.find((t) => t.schema === placed.schema);
      const lock = await MoveLock.try(servers.default.database.adminUrl, placed.schema);
      if (!lock) continue;
      try {
        if (spec && config.databases.some((d) => d.name === placed.move!.to)) {
          await undoMove(placed, placed.server, servers.names, (target) => this.#tenantMove(config, spec, placed.server, target)).catch((error: unknown) => {
            this.#log.warn({ tenant: placed.schema, err: error }, 'an interrupted move could not be cleaned up entirely; tenants move --abort tries again');
          });
        }
        await lock.record(null);
        this.#log.warn({ tenant: placed.schema, server: placed.server, to: placed.move.to, phase: placed.move.phase }, 'a move interrupted by a stop of tenantd was rolled back; the tenant serves from where it was');
      } finally {
        await lock.release();
      }
    }
  }

  /** Another node announced a change of `schema`'s placement: hold its requests at its cutover, follow it to its new server, or let go after an abort. */
  async #follow(schema: string): Promise<void> {
    if (this.#moving.has(schema) || this.#stopping || !this.#routing) return;
    const placed = (await this.#running.servers.placement().catch(() => undefined))?.get(schema);
    if (placed) this.#followOne(placed);
  }

  /** The whole table, read every few seconds: any tenant whose server changed while nothing was announced here is followed. */
  #followAll(placement: Map<string, Placement>): void {
    if (this.#stopping || !this.#routing) return;
    this.#placement = placement;
    for (const placed of placement.values()) {
      const server = this.#serverOf.get(placed.schema);
      if (this.#moving.has(placed.schema) || server === undefined) continue;
      if (server !== placed.server || (this.#following.has(placed.schema) && placed.move?.phase !== 'cutover')) this.#followOne(placed);
    }
  }

  #followOne(placed: Placement): void {
    const schema = placed.schema;
    const spec = this.#config.tenants.find((t) => t.schema === schema);
    const current = this.#sites.get(schema);
    if (!spec || !current || this.#moving.has(schema)) return;
    const following = this.#following.get(schema);
    if (placed.move?.phase === 'cutover' && this.#serverOf.get(schema) === placed.server) {
      if (following) return;
      // Its requests wait here while the other node cuts over; its workers stop using the source.
      const held = this.#hold(spec);
      const timer = setTimeout(() => void this.#followRelease(schema, this.#serverOf.get(schema) ?? placed.server), this.#config.router.queueTimeout);
      this.#following.set(schema, { held, timer });
      if (current instanceof WorkerGroup) void current.handBack(this.#config.workers.stopTimeout);
      this.#placement.set(schema, placed);
      return;
    }
    if (this.#serverOf.get(schema) !== placed.server || following) void this.#followRelease(schema, placed.server);
  }

  /** Workers for `schema` on `server` (its new one, or its old one after an abort), then its held requests go to them. */
  async #followRelease(schema: string, server: string): Promise<void> {
    const spec = this.#config.tenants.find((t) => t.schema === schema);
    if (!spec) return;
    const following = this.#following.get(schema);
    if (following) clearTimeout(following.timer);
    const sameServer = this.#serverOf.get(schema) === server;
    const old = this.#sites.get(schema);
    // The same workers may go on when nothing was handed back; otherwise new ones start.
    if (sameServer && !following) return;
    this.#serverOf.set(schema, server);
    const group = this.#startGroup(this.#config, spec, server);
    await group.settled();
    if (this.#following.get(schema) !== following) return void this.#drain(group);
    this.#following.delete(schema);
    this.#sites.set(schema, group);
    this.#running.router.setRoutes(routesOf(this.#sites));
    following?.held.release(group);
    if (old) this.#drain(old);
    this.#log.info({ tenant: schema, server }, sameServer ? 'another node\'s move of this tenant ended without a switch; it serves from where it was' : 'this tenant moved (another node moved it); it serves from its new server');
  }

  async #reload(): Promise<ReloadResult> {
    if (this.#stopping) return rejected(new errors.Stopping());
    const current = this.#config;
    let loaded: Config;
    try {
      loaded = await loadConfigOffThread(current.file, this.#env);
    } catch (error) {
      if (!(error instanceof TenantdError)) throw error;
      this.#log.error({ err: error }, 'reload rejected; the running config stays');
      return rejected(error);
    }
    // A new credentials secret (rotation) gives every site new passwords; the app
    // is compiled again (a syntax error rejects the reload here), so a changed
    // source is never served from an old build.
    const secret = CredentialsSecret.read(loaded.database.secretFile, false);
    // Certificate files read again: a changed one is picked up, a bad one rejects the reload.
    // tls.acme is checked here and applied only once the reload is (#reconfigureAcme).
    let tls: TlsState | undefined;
    try {
      tls = tlsStateOf(loaded, secret, this.#running.router);
      if (loaded.tls?.acme) CertificateManager.validate(loaded.tls.acme);
      const acme = this.#running.acme;
      if (tls && acme && loaded.tls?.acme) tls.setIssued(acme.issued);
    } catch (error) {
      if (!(error instanceof TenantdError)) throw error;
      this.#log.error({ err: error }, 'reload rejected; the running config stays');
      return rejected(error);
    }
    const app = await bundle(loaded.app, 'app');
    // Entries that name another server than the one their tenant lives on: said, and left where they live.
    const { warnings } = await this.#running.servers.assign(sitesOf(loaded), loaded.placement);
    const unavailable = new Set([...this.#sites].filter(([, site]) => site instanceof UnavailableSite).map(([schema]) => schema));
    const plan = planReload(current, loaded, { rotated: !secret.equals(this.#running.credentials.secret), appChanged: app !== this.#app, unavailable });
    const { next } = plan;

    // Before new workers get their loggers.
    this.#levels.set(next.log.level);
    const running = this.#running;
    const { router, servers, connections } = running;
    const previous = { credentials: running.credentials, app: this.#app };
    const previousTls = running.tls;
    running.credentials = new SiteCredentials(secret, servers.default.provisioner);
    // Without tls.listen (added by this reload: a restart binds it), the state still follows the files.
    running.tls = tls;
    this.#app = app;
    let started: Map<string, ServedSite>;
    try {
      started = await this.#startSites(next, [...plan.added, ...plan.changed]);
    } catch (error) {
      running.credentials = previous.credentials;
      running.tls = previousTls;
      this.#app = previous.app;
      throw error;
    }
    const { sites, retired, failed } = placeSites(next, this.#sites, outcomesOf(started), plan.removed);

    // Routing moves at once; then what left it drains.
    router.setRoutes(routesOf(sites));
    router.setLimits(limitsOf(next));
    for (const site of sites.values()) if (site instanceof WorkerGroup) site.setLimits(clientLimitsOf(next, router));
    // Unchanged sites' workers get the certificates as they are now (a renewed file, say).
    if (tls) for (const site of sites.values()) if (site instanceof WorkerGroup && !started.has(site.site.schema)) site.setTls(tls.forSite(site.site));
    this.#starts.limit = next.workers.startConcurrency;
    for (const [name, server] of connections) this.#liveOf(name).limit = liveLimit(next, server);
    this.#sites = sites;
    this.#config = next;
    await this.#reconfigureAcme(next, secret);
    for (const site of retired) this.#drain(site);
    await this.#syncRegistries(next);

    const names = (specs: Site[]) => specs.map((s) => s.schema);
    const result: ReloadResult = {
      ok: true,
      added: names(plan.added),
      removed: names(plan.removed),
      changed: names(plan.changed),
      unchanged: names(plan.unchanged),
      failed,
      restartRequired: plan.restartRequired,
      ...(warnings.length > 0 ? { warnings } : {}),
    };
    if (plan.restartRequired.length > 0) this.#log.warn({ keys: plan.restartRequired }, 'these changes apply at the next restart');
    // Those of started sites were said as they started.
    for (const warning of warnings) if (!started.has(warning.slice(0, warning.indexOf(' ')))) this.#log.warn(warning);
    this.#log.info(result, 'reload applied');
    return result;
  }

  /** True when the router routes, the database answers and every site has a ready worker. */
  ready(): boolean {
    return this.readiness().ready;
  }

  readiness(): Readiness {
    const notReady: string[] = [];
    if (!this.#routing) notReady.push('tenantd is starting');
    if (this.#stopping) notReady.push('tenantd is stopping');
    for (const [name, monitor] of this.#started?.monitors ?? []) {
      const state = monitor.state;
      if (!state.up) notReady.push(`database${name === 'default' ? '' : ` ${name}`}: ${state.reason}`);
    }
    for (const site of this.status()) {
      if (!serves(site.state)) notReady.push(`${site.schema}: ${site.state}${site.error ? ` (${site.error})` : ''}`);
    }
    return { ready: notReady.length === 0, notReady };
  }

  summary(): ServiceSummary {
    const sites: Partial<Record<GroupState, number>> = {};
    let resident = process.memoryUsage.rss();
    for (const site of this.status()) {
      sites[site.state] = (sites[site.state] ?? 0) + 1;
      for (const w of site.workers) resident += (w.pid === null ? 0 : residentBytes(w.pid)) ?? 0;
    }
    return {
      sites,
      liveWorkers: this.#liveCount(),
      maxLive: [...this.#live.values()].reduce((n, live) => n + live.limit, 0),
      databases: this.#databaseSummaries(),
      residentBytes: resident,
    };
  }

  /** Each database server as /status and /metrics show it (no per-worker reads: /metrics is scraped often). */
  #databaseSummaries(): ServiceSummary['databases'] {
    return this.#config.databases.map(({ name }) => {
      const monitor = this.#started?.monitors.get(name);
      const state = monitor?.state ?? { up: true };
      const server = this.#started?.connections.get(name);
      return {
        name, up: state.up, ...(state.up ? {} : { reason: state.reason }),
        tenants: [...this.#sites.keys()].filter((schema) => schema !== 'public' && this.#serverOf.get(schema) === name).length,
        connections: monitor?.connections ?? 0,
        budget: server ? connectionBudget(this.#config.database, server) : 0,
        serverMaxConnections: server?.server ?? 0,
        // A move's slot with no move recorded: left by an interrupted one (tenants move --abort removes it).
        orphanSlots: (monitor?.moveSlots ?? []).filter((slot) => ![...this.#placement.values()].some((p) => p.move && moveName(p.schema) === slot)),
      };
    });
  }

  /** The database as the primary sees it: down when any server is. */
  get database(): DatabaseState {
    for (const monitor of this.#started?.monitors.values() ?? []) if (!monitor.state.up) return monitor.state;
    return { up: true };
  }

  status(): SiteStatus[] {
    const moves = (schema: string) => {
      const move = this.#placement.get(schema)?.move;
      return move ? { move: { to: move.to, phase: move.phase } } : {};
    };
    const statuses = statusOf(this.#sites, (schema) => this.#serverOf.get(schema) ?? 'default').map((s) => ({ ...s, ...moves(s.schema) }));
    const tls = this.#started?.tls;
    if (!tls) return statuses;
    const specs = new Map(sitesOf(this.#config).map((site) => [site.schema, site]));
    return statuses.map((status) => {
      const spec = specs.get(status.schema);
      return spec ? { ...status, certificates: tls.hostCertificates(spec, this.#started?.acme) } : status;
    });
  }

  /**
   * For a forced exit: nothing waits. Workers exit when the primary's IPC channel
   * closes; the embedded database, detached, is asked to stop here.
   */
  abandon(): void {
    this.#parts.servers?.abandon();
  }

  /** Stops accepting, lets in-flight requests finish (bounded), stops workers and the database. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#starting?.catch(() => {});
    await this.#reloads;
    clearInterval(this.#reaper);
    clearInterval(this.#expiry);
    clearInterval(this.#rotation);
    await this.#started?.acme?.close();
    const { admin, forwarder, router, monitors, servers, certificateStore } = this.#parts;
    if (router) await router.close(this.#config.workers.stopTimeout);
    // Handed-off connections close while every group still routes: a request on
    // one for another tenant is rerouted to workers that still serve it.
    await Promise.all([...this.#sites.values()].map((site) => (site instanceof WorkerGroup ? site.drainConnections() : undefined)));
    for (const site of this.#sites.values()) this.#drain(site);
    await Promise.all(this.#draining);
    router?.closeReroute();
    if (admin) await closeGracefully(admin, 0);
    forwarder?.close();
    await Promise.all([...monitors?.values() ?? []].map((m) => m.stop()));
    await this.#watch?.stop();
    for (const { held, timer } of this.#following.values()) {
      clearTimeout(timer);
      held.release(new UnavailableSite(held.site, 'tenantd is stopping'));
    }
    await certificateStore?.close();
    await servers?.close();
    this.#log.info('tenantd stopped');
  }
}
