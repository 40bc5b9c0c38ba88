// The table of sites the primary serves: a WorkerGroup for each site that was
// provisioned, an UnavailableSite (503 for every request) for one that was not;
// their routes by host, and their status as the admin API reports it.
import type { Site } from '../config/config.ts';
import { HostTable } from '../http/host-table.ts';
import type { Upstream } from '../router/router.ts';
import { WorkerGroup } from '../supervisor/worker-group.ts';
import type { GroupState } from '../supervisor/worker-types.ts';
import type { SiteStatus } from '../admin/admin-types.ts';

/** A site that could not be provisioned: every request gets 503. */
export class UnavailableSite implements Upstream {
  readonly site: Site;
  readonly error: string;
  constructor(site: Site, error: string) {
    this.site = site;
    this.error = error;
  }
  next(): undefined {
    return undefined;
  }
  done(): void {}
  handOff(): false {
    return false;
  }
  closeConnection(): void {}
}

export type ServedSite = WorkerGroup | UnavailableSite;

/** A site that answers requests: ready, or idle (no worker until a request starts one). */
export function serves(state: GroupState): boolean {
  return state === 'ready' || state === 'idle';
}

/** Every host of every site, to its site. */
export function routesOf(sites: ReadonlyMap<string, Upstream & { readonly site: { readonly hosts: readonly string[] } }>): HostTable<Upstream> {
  const table = new HostTable<Upstream>();
  for (const site of sites.values()) for (const host of site.site.hosts) table.add(host, site);
  return table;
}

/** Each site's status; `serverOf`: the database server it is served from. */
export function statusOf(sites: ReadonlyMap<string, ServedSite>, serverOf: (schema: string) => string): SiteStatus[] {
  return [...sites.values()].map((site) => {
    const { schema, hosts } = site.site;
    const server = serverOf(schema);
    if (!(site instanceof WorkerGroup)) return { schema, hosts, server, state: 'failed', error: site.error, workers: [] };
    const reason = site.reason;
    return { schema, hosts, server, state: site.state, ...(reason === undefined ? {} : { error: reason }), workers: site.workers() };
  });
}
