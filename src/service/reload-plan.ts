// Reload planning, as pure functions: what a reload starts (planReload), then,
// once the new workers have started or failed, which sites serve and which drain
// (placeSites). The service only executes what these decide.
import { diffConfig, startBoundDatabaseKeys } from '../config/config-diff.ts';
import type { Config, Site } from '../config/config.ts';
import { sitesOf } from '../config/config-diff.ts';

/** What the service knows beside the two configs. */
export interface ReloadState {
  /** The credentials secret file holds a new secret (rotation): every site gets new passwords. */
  rotated: boolean;
  /** The application compiled to a new bundle: every site gets new workers. */
  appChanged: boolean;
  /** Schemas of the sites that could not be provisioned: a reload tries them again. */
  unavailable: ReadonlySet<string>;
}

export interface ReloadPlan {
  /** The config the service runs after the reload: addresses, the admin token and the start-bound database keys kept from the running one. */
  next: Config;
  added: Site[];
  removed: Site[];
  /** Sites whose workers are replaced. */
  changed: Site[];
  unchanged: Site[];
  /** Changed keys that only a restart applies. */
  restartRequired: string[];
}

/** What a reload of `current` to `loaded` does, given `state`. */
export function planReload(current: Config, loaded: Config, state: ReloadState): ReloadPlan {
  const diff = diffConfig(current, loaded);
  const every = state.rotated || state.appChanged;
  const retry = diff.unchanged.filter((site) => every || state.unavailable.has(site.schema));
  const next: Config = Object.freeze({
    ...loaded,
    listen: current.listen,
    admin: current.admin,
    adminToken: current.adminToken,
    database: Object.freeze({
      ...loaded.database,
      ...Object.fromEntries(startBoundDatabaseKeys.map((key) => [key, current.database[key]])),
    }),
  });
  return {
    next,
    added: diff.added,
    removed: diff.removed,
    changed: [...diff.changed, ...retry],
    unchanged: diff.unchanged.filter((site) => !retry.includes(site)),
    restartRequired: diff.restartRequired,
  };
}

/** How a site's new workers came out: serving, or not (with why). */
export type Started<S> = { site: S; healthy: true } | { site: S; healthy: false; error: string };

export interface Placement<S> {
  /** The sites to route to, by schema, in the order of `next`. */
  sites: Map<string, S>;
  /** Sites that leave the routes and drain: replaced, removed, or new ones that failed beside their old ones. */
  retired: S[];
  /** Sites whose new workers could not start: an added one answers 503, a changed one keeps its old workers. */
  failed: { schema: string; error: string }[];
}

/**
 * Which sites serve after a reload: a started site replaces its old one when
 * healthy; a changed site whose new workers failed keeps the old ones; removed
 * sites and replaced ones drain.
 */
export function placeSites<S>(next: Config, running: ReadonlyMap<string, S>, started: ReadonlyMap<string, Started<S>>, removed: readonly Site[]): Placement<S> {
  const sites = new Map<string, S>();
  const retired: S[] = [];
  const failed: { schema: string; error: string }[] = [];
  for (const spec of sitesOf(next)) {
    const old = running.get(spec.schema);
    const fresh = started.get(spec.schema);
    if (!fresh) {
      if (old !== undefined) sites.set(spec.schema, old);
      continue;
    }
    if (!fresh.healthy) failed.push({ schema: spec.schema, error: fresh.error });
    if (old !== undefined && !fresh.healthy) {
      sites.set(spec.schema, old);
      retired.push(fresh.site);
    } else {
      sites.set(spec.schema, fresh.site);
      if (old !== undefined) retired.push(old);
    }
  }
  for (const spec of removed) {
    const old = running.get(spec.schema);
    if (old !== undefined) retired.push(old);
  }
  return { sites, retired, failed };
}
