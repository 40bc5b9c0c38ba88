// Prometheus text metrics: requests, latency and 5xx per tenant from the router,
// and per worker its restarts and memory, read from /proc (no IPC, so a slow
// worker cannot hold up a scrape).
import { readFileSync } from 'node:fs';
import type { AccessEntry } from '../http/access-entry.ts';
import { addCounts, countRequest, durationBuckets as buckets, emptyCounts, type RequestCounts } from '../http/request-stats.ts';
import type { SiteStatus } from './admin-types.ts';
import type { OrderOutcomes } from '../acme/certificate-manager.ts';


function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Resident memory of a process: VmRSS of /proc/<pid>/status (in kB whatever the page size); undefined where there is none. */
export function residentBytes(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export class Metrics {
  readonly #tenants = new Map<string, RequestCounts>();
  #databaseRestarts = 0;
  readonly #retired = { idle: 0, evicted: 0 };
  #coldStarts = 0;
  readonly #coldHistogram: number[] = new Array(buckets.length + 1).fill(0);
  #coldSum = 0;

  /** A worker beyond min stopped: idle for idleTimeout, or evicted for another tenant under maxLive. */
  workerRetired(why: 'idle' | 'evicted'): void {
    this.#retired[why] += 1;
  }

  /** A request found no worker and waited `ms` for the one started for it. */
  coldStart(ms: number): void {
    this.#coldStarts += 1;
    const seconds = ms / 1000;
    for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]!) this.#coldHistogram[i]! += 1;
    this.#coldHistogram[buckets.length]! += 1;
    this.#coldSum += seconds;
  }

  /** The embedded PostgreSQL was restarted after it exited. */
  databaseRestarted(): void {
    this.#databaseRestarts += 1;
  }

  #series(tenant: string): RequestCounts {
    let series = this.#tenants.get(tenant);
    if (!series) {
      series = emptyCounts();
      this.#tenants.set(tenant, series);
    }
    return series;
  }

  /** Router hook: one call per request the router answered. */
  observe(entry: AccessEntry): void {
    countRequest(this.#series(entry.tenant ?? ''), entry.status, entry.durationMs);
  }

  /** A worker's counts of the requests it served on handed-off connections. */
  add(tenant: string, counts: RequestCounts): void {
    addCounts(this.#series(tenant), counts);
  }

  render(sites: SiteStatus[], databases: readonly { name: string; up: boolean }[], liveWorkers: number, orders?: OrderOutcomes): string {
    const out: string[] = [];
    const help = (name: string, type: string, text: string) => out.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);

    help('tenantd_requests_total', 'counter', 'Requests answered, by the router or by workers on handed-off connections, by tenant ("" = no tenant) and status class.');
    for (const [tenant, s] of this.#tenants) {
      for (const [code, n] of Object.entries(s.byClass)) out.push(`tenantd_requests_total{tenant="${label(tenant)}",code="${code}"} ${n}`);
    }
    help('tenantd_request_errors_total', 'counter', 'Requests answered with a 5xx status, by tenant.');
    for (const [tenant, s] of this.#tenants) out.push(`tenantd_request_errors_total{tenant="${label(tenant)}"} ${s.errors}`);
    help('tenantd_request_duration_seconds', 'histogram', 'Time from request to response end, by tenant.');
    for (const [tenant, s] of this.#tenants) {
      const t = label(tenant);
      buckets.forEach((le, i) => out.push(`tenantd_request_duration_seconds_bucket{tenant="${t}",le="${le}"} ${s.histogram[i]}`));
      out.push(`tenantd_request_duration_seconds_bucket{tenant="${t}",le="+Inf"} ${s.histogram[buckets.length]}`);
      out.push(`tenantd_request_duration_seconds_sum{tenant="${t}"} ${s.sum}`);
      out.push(`tenantd_request_duration_seconds_count{tenant="${t}"} ${s.count}`);
    }

    help('tenantd_certificate_expiry_timestamp_seconds', 'gauge', 'When the certificate a host is served with expires (Unix time), for hosts that have one (tls).');
    for (const site of sites) {
      for (const c of site.certificates ?? []) if (c.expires) out.push(`tenantd_certificate_expiry_timestamp_seconds{host="${label(c.host)}"} ${Math.floor(Date.parse(c.expires) / 1000)}`);
    }
    if (orders) {
      help('tenantd_acme_orders_total', 'counter', 'Certificate orders on this node by outcome: issued, failed, or limited (put off by tls.acme.ordersPerHour).');
      for (const [outcome, n] of Object.entries(orders)) out.push(`tenantd_acme_orders_total{outcome="${outcome}"} ${n}`);
    }
    help('tenantd_tenant_up', 'gauge', '1 when the tenant can serve: a ready worker, or none needed until a request (idle).');
    for (const site of sites) out.push(`tenantd_tenant_up{tenant="${label(site.schema)}",server="${label(site.server)}"} ${site.state === 'ready' || site.state === 'idle' ? 1 : 0}`);
    help('tenantd_live_workers', 'gauge', 'Worker processes alive now, all tenants.');
    out.push(`tenantd_live_workers ${liveWorkers}`);
    help('tenantd_cold_starts_total', 'counter', 'Requests that found no worker and had one started for them.');
    out.push(`tenantd_cold_starts_total ${this.#coldStarts}`);
    help('tenantd_cold_start_duration_seconds', 'histogram', 'From such a request to its worker being ready.');
    buckets.forEach((le, i) => out.push(`tenantd_cold_start_duration_seconds_bucket{le="${le}"} ${this.#coldHistogram[i]}`));
    out.push(`tenantd_cold_start_duration_seconds_bucket{le="+Inf"} ${this.#coldHistogram[buckets.length]}`);
    out.push(`tenantd_cold_start_duration_seconds_sum ${this.#coldSum}`, `tenantd_cold_start_duration_seconds_count ${this.#coldStarts}`);
    help('tenantd_idle_stops_total', 'counter', 'Workers beyond min stopped after workers.idleTimeout without a request.');
    out.push(`tenantd_idle_stops_total ${this.#retired.idle}`);
    help('tenantd_evictions_total', 'counter', 'Idle workers stopped to make room for another tenant under workers.maxLive.');
    out.push(`tenantd_evictions_total ${this.#retired.evicted}`);
    help('tenantd_worker_restarts_total', 'counter', 'Worker restarts after an exit, by tenant.');
    for (const site of sites) {
      out.push(`tenantd_worker_restarts_total{tenant="${label(site.schema)}"} ${site.workers.reduce((n, w) => n + w.restarts, 0)}`);
    }
    help('tenantd_worker_resident_memory_bytes', 'gauge', 'Resident memory of each running worker.');
    for (const site of sites) {
      for (const w of site.workers) {
        const bytes = w.pid === null ? undefined : residentBytes(w.pid);
        if (bytes !== undefined) out.push(`tenantd_worker_resident_memory_bytes{tenant="${label(site.schema)}",pid="${w.pid}"} ${bytes}`);
      }
    }
    help('tenantd_database_up', 'gauge', '1 when the primary reaches the database server.');
    for (const db of databases) out.push(`tenantd_database_up{server="${label(db.name)}"} ${db.up ? 1 : 0}`);
    help('tenantd_database_restarts_total', 'counter', 'Restarts of the embedded PostgreSQL after it exited.');
    out.push(`tenantd_database_restarts_total ${this.#databaseRestarts}`);
    help('tenantd_primary_resident_memory_bytes', 'gauge', 'Resident memory of the primary (router) process.');
    out.push(`tenantd_primary_resident_memory_bytes ${process.memoryUsage.rss()}`);
    return `${out.join('\n')}\n`;
  }
}
