// What a reload changes: sites added, removed, changed (their workers are
// replaced) and unchanged (not touched), and the keys that only a restart applies.
import { isDeepStrictEqual } from 'node:util';
import type { Config, TenantSpec } from './config.ts';

export interface ConfigDiff {
  added: TenantSpec[];
  removed: TenantSpec[];
  changed: TenantSpec[];
  unchanged: TenantSpec[];
  /** Keys whose new value is ignored until the service restarts. */
  restartRequired: string[];
}

/** Database keys bound when the service starts: a reload keeps their running values. */
export const startBoundDatabaseKeys = ['url', 'dataDir', 'port', 'rolePrefix'] as const;

/** The public site (if any) and the tenants: everything that gets workers. */
export function sitesOf(config: Config): TenantSpec[] {
  return config.public ? [config.public, ...config.tenants] : [...config.tenants];
}

/** The workers keys a running worker depends on (startConcurrency only paces new starts). */
function workerStart(config: Config): Omit<Config['workers'], 'startConcurrency'> {
  const { startConcurrency: _pace, ...rest } = config.workers;
  return rest;
}

export function diffConfig(current: Config, next: Config): ConfigDiff {
  // Settings every worker of every site starts with: a change replaces them all.
  const workersChanged = current.app !== next.app
    || current.database.poolSize !== next.database.poolSize
    || current.log.level !== next.log.level
    || !isDeepStrictEqual(workerStart(current), workerStart(next));
  const before = new Map(sitesOf(current).map((s) => [s.schema, s]));
  const after = new Map(sitesOf(next).map((s) => [s.schema, s]));
  const diff: ConfigDiff = { added: [], removed: [], changed: [], unchanged: [], restartRequired: [] };
  for (const [schema, site] of after) {
    const old = before.get(schema);
    if (!old) diff.added.push(site);
    else if (workersChanged || !isDeepStrictEqual(old, site)) diff.changed.push(site);
    else diff.unchanged.push(site);
  }
  for (const [schema, site] of before) if (!after.has(schema)) diff.removed.push(site);
  for (const key of ['listen', 'admin'] as const) {
    if (!isDeepStrictEqual(current[key], next[key])) diff.restartRequired.push(key);
  }
  if (current.router.maxHeaderSize !== next.router.maxHeaderSize) diff.restartRequired.push('router.maxHeaderSize');
  for (const key of startBoundDatabaseKeys) {
    if (current.database[key] !== next.database[key]) diff.restartRequired.push(`database.${key}`);
  }
  return diff;
}
